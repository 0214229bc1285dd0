"""What ``create_pipeline`` stores for the runner: pipelines made by real pushes whose files use the delivery
keywords. The job spec carries the contract's keys with names expanded (environment, resource group, cache keys
from the commit's files, artifacts name, services), the job columns are set, and the new predefined variables
(CI_NODE_*, CI_ENVIRONMENT_*, CI_JOB_NAME_SLUG, CI_PIPELINE_CREATED_AT, CI_COMMIT_REF_PROTECTED) reach the job."""

from __future__ import annotations

from typing import Any

from ci import pipelines
from ci.models import CONFIG_ERROR
from forge.repos import protection
from tests.ci.pipeline_helpers import jobs_by_name, only_pipeline, push_files, repo_pipelines, wait_seen

MAIN_FILE = """\
include:
  - local: ci/build.yml
stages: [build, test, deploy]
variables:
  APP: shop
test:
  stage: test
  image: python:$PY-slim
  parallel:
    matrix:
      - PY: ["3.11", "3.12"]
  interruptible: true
  services:
    - name: postgres:16
      alias: db,postgres
      variables:
        POSTGRES_DB: $APP
  cache:
    - key: {files: [requirements.txt], prefix: pip-$CI_JOB_NAME_SLUG}
      paths: [.cache/pip]
      fallback_keys: [pip-$CI_DEFAULT_BRANCH]
    - key: $CI_COMMIT_REF_NAME
      paths: [.tox]
      policy: pull
  coverage: '/TOTAL.+ (\\d+%)/'
  retry: {max: 2, when: [runner_system_failure]}
  script: [pytest]
  artifacts:
    name: report-$CI_JOB_ID
    reports:
      junit: report.xml
deploy:
  stage: deploy
  script: [./deploy]
  when: delayed
  start_in: 10 minutes
  resource_group: deploy-$CI_COMMIT_REF_SLUG
  environment:
    name: review/$CI_COMMIT_REF_NAME
    url: https://$CI_ENVIRONMENT_SLUG.example.com
    auto_stop_in: 1 day
"""

BUILD_FILE = """\
build:
  stage: build
  script: [make]
  artifacts:
    paths: [dist/]
    expire_in: 1 week
"""


def variables_of(spec: dict[str, Any]) -> dict[str, str]:
    return {v["key"]: v["value"] for v in spec["variables"]}


def test_delivery_spec_and_columns(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".gitlab-ci.yml": MAIN_FILE, "ci/build.yml": BUILD_FILE,
                                   "requirements.txt": "pytest\n"})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.status != CONFIG_ERROR, pipeline.config_errors
    assert pipeline.id is not None
    jobs = jobs_by_name(server.engine, pipeline.id)
    assert sorted(jobs) == ["build", "deploy", "test: [3.11]", "test: [3.12]"]

    test = jobs["test: [3.12]"]
    spec = test.spec
    assert spec["image"] == {"name": "python:3.12-slim", "entrypoint": None}
    assert spec["services"] == [{"name": "postgres:16", "alias": ["db", "postgres"], "command": None,
                                 "entrypoint": None, "variables": [{"key": "POSTGRES_DB", "value": "shop"}]}]
    pip_cache, tox_cache = spec["cache"]
    # key: files: the prefix expanded with the job's own slug, then the digest of requirements.txt's blob.
    assert pip_cache["key"].startswith("pip-test-3-12-") and len(pip_cache["key"]) == len("pip-test-3-12-") + 40
    assert pip_cache["fallback_keys"] == ["pip-main"] and pip_cache["policy"] == "pull-push"
    assert tox_cache == {"key": "main", "paths": [".tox"], "untracked": False, "policy": "pull",
                         "when": "on_success", "fallback_keys": [], "unprotect": False}
    assert spec["artifacts"] == {"name": f"report-{test.id}", "paths": [], "exclude": [], "untracked": False,
                                 "when": "on_success", "expire_in": None, "expose_as": "",
                                 "reports": {"junit": ["report.xml"]}}
    assert spec["artifact_sources"] == ["build"]
    assert spec["coverage"] == "TOTAL.+ (\\d+%)"
    assert spec["retry"] == {"max": 2, "when": ["runner_system_failure"], "exit_codes": []}
    assert spec["environment"] is None and spec["start_in"] is None
    assert spec["parallel"] == {"index": 2, "total": 2}
    assert test.interruptible and test.resource_group == "" and test.environment == ""
    values = variables_of(spec)
    assert values["PY"] == "3.12" and values["CI_NODE_INDEX"] == "2" and values["CI_NODE_TOTAL"] == "2"
    assert values["CI_JOB_NAME"] == "test: [3.12]" and values["CI_JOB_NAME_SLUG"] == "test-3-12"
    assert values["CI_COMMIT_REF_PROTECTED"] == "false"
    assert values["CI_PIPELINE_CREATED_AT"].endswith("Z")
    assert values["CI_PIPELINE_CREATED_AT"][:19] == pipeline.created_at.isoformat()[:19]
    assert "CI_ENVIRONMENT_NAME" not in values

    build = jobs["build"].spec
    assert build["artifacts"]["paths"] == ["dist/"] and build["artifacts"]["expire_in"] == 7 * 86400
    assert build["artifact_sources"] == [] and build["services"] == [] and build["cache"] == []
    assert build["retry"] == {"max": 0, "when": ["always"], "exit_codes": []}

    deploy = jobs["deploy"]
    assert deploy.when == "delayed" and deploy.spec["start_in"] == 600
    assert deploy.resource_group == "deploy-main" and deploy.environment == "review/main"
    assert not deploy.interruptible
    assert deploy.spec["environment"] == {"name": "review/main", "url": "https://review-main-" +
                                          variables_of(deploy.spec)["CI_ENVIRONMENT_SLUG"][-6:] + ".example.com",
                                          "action": "start", "on_stop": "", "deployment_tier": "development",
                                          "auto_stop_in": 86400}
    deploy_vars = variables_of(deploy.spec)
    assert deploy_vars["CI_ENVIRONMENT_NAME"] == "review/main"
    assert deploy_vars["CI_ENVIRONMENT_SLUG"].startswith("review-main-")
    assert deploy_vars["CI_ENVIRONMENT_URL"] == deploy.spec["environment"]["url"]
    assert (deploy_vars["CI_ENVIRONMENT_ACTION"], deploy_vars["CI_ENVIRONMENT_TIER"]) == ("start", "development")
    assert deploy.spec["artifact_sources"] == ["build", "test: [3.11]", "test: [3.12]"]

    # The files' key follows their content: a new requirements.txt, a new key; the text key stays.
    pushed.work.commit({"requirements.txt": "pytest\nhypothesis\n"}, "more requirements")
    git.push_to(pushed.work.path, ref)
    wait_seen(server.engine, ref.repo.id, count=2)
    newer = repo_pipelines(server.engine, ref.repo.id)[-1]
    assert newer.id is not None and newer.id != pipeline.id
    newer_spec = jobs_by_name(server.engine, newer.id)["test: [3.12]"].spec
    assert newer_spec["cache"][0]["key"] != pip_cache["key"] and newer_spec["cache"][0]["key"].startswith("pip-")
    assert newer_spec["cache"][1]["key"] == "main"


def test_protected_branch_is_told_to_the_job(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with factory.session() as s:
        protection.save_rule(s, owner, ref, "main")
    push_files(git, ref, {".gitlab-ci.yml": "job:\n  script: [x]\n"})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.id is not None
    assert variables_of(jobs_by_name(server.engine, pipeline.id)["job"].spec)["CI_COMMIT_REF_PROTECTED"] == "true"
    with factory.session() as s:
        made = pipelines.run_pipeline(s, server.settings, ref, owner, "main", {"EXTRA": "1"})
        spec = pipelines.jobs_of(s, made.id)[0].spec
    assert variables_of(spec)["CI_COMMIT_REF_PROTECTED"] == "true" and variables_of(spec)["EXTRA"] == "1"


def test_problems_in_an_included_file_make_a_config_error_pipeline(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {
        ".gitlab-ci.yml": "stages: [test]\ninclude:\n  - local: ci/jobs.yml\n  - local: ci/missing.yml\n",
        "ci/jobs.yml": "job:\n  script: [x]\n  parallel: 500\n",
    })
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.status == CONFIG_ERROR
    assert pipeline.config_errors == [
        {"line": 3, "message": "in “ci/jobs.yml”, line 3: job “job”: “parallel” must be from 1 to 200, not 500"},
        {"line": 4, "message": "include “ci/missing.yml”: there is no such file in the repository at this commit "
                               "(paths are relative to the repository's root)"},
    ]


REAL_WORLD_FILE = """\
include:
  - template: Security/SAST.gitlab-ci.yml
  - project: group/ci-templates
    file: go.yml
stages: [build, test]
sast:
  variables:
    SAST_EXCLUDED_PATHS: vendor
build:
  stage: build
  extends: .go-build
test:
  stage: test
  script: [go test ./...]
  allow_failure:
    exit_codes: [3, 137]
docs:
  stage: test
  script: [make docs]
  rules:
    - changes:
        paths: [docs/**/*]
        compare_to: refs/heads/main
publish:
  stage: test
  script: [twine upload dist/*]
  release:
    tag_name: $CI_COMMIT_TAG
    description: release
"""


def test_a_real_world_file_runs_what_it_can_and_says_what_it_left_out(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".gitlab-ci.yml": REAL_WORLD_FILE, "docs/index.md": "# Docs\n"})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.status != CONFIG_ERROR, pipeline.config_errors
    assert pipeline.id is not None
    jobs = jobs_by_name(server.engine, pipeline.id)
    # docs: main compared with itself changed nothing, so its rule does not match.
    assert sorted(jobs) == ["publish", "test"]
    assert jobs["test"].spec["allow_failure_exit_codes"] == [3, 137] and not jobs["test"].allow_failure
    assert jobs["publish"].spec["allow_failure_exit_codes"] == []
    # GitLab's predefined names that real files test: $GITLAB_CI, the server's host, the project's id.
    values = variables_of(jobs["test"].spec)
    host = server.settings.public_url().split("://", 1)[1].split("/", 1)[0]
    assert values["GITLAB_CI"] == "true" and values["CI_SERVER"] == "yes"
    assert values["CI_SERVER_FQDN"] == host and values["CI_SERVER_HOST"] == host.split(":")[0]
    assert values["CI_SERVER_PORT"] == (host.split(":")[1] if ":" in host else "80")
    assert values["CI_PROJECT_ID"] == str(ref.repo.id)
    assert values["CI_PROJECT_PATH_SLUG"] == ref.full_name.lower().replace("/", "-").replace("_", "-")
    assert values["CI_COMMIT_DESCRIPTION"] == ""  # "add pipeline" has no body
    assert pipeline.config_warnings == [
        {"line": 2, "message": "GitLab's template “Security/SAST.gitlab-ci.yml” is not available on this forge: its "
                               "jobs are left out, and jobs that extend or need them are left out too"},
        {"line": 3, "message": "“go.yml” of the project “group/ci-templates” is not available on this forge: its "
                               "jobs are left out, and jobs that extend or need them are left out too"},
        {"line": 6, "message": "job “sast” is left out: it has no “script”, so it probably only adds keys to a job "
                               "of an include this forge cannot read"},
        {"line": 9, "message": "job “build” is left out: it extends “.go-build”, which is not defined in this file "
                               "(it probably comes from an include this forge cannot read)"},
        {"line": 27, "message": "job “publish”: “release” is not supported on this forge: no release is created "
                                "(the job's script still runs)"},
    ]

    # A branch that changes docs/ since it left main: compare_to sees it, although its own push is the first.
    pushed.work.git("checkout", "-b", "guide")
    pushed.work.commit({"docs/guide.md": "# Guide\n"}, "guide")
    git.push_to(pushed.work.path, ref, "guide")
    wait_seen(server.engine, ref.repo.id, count=2)
    branch_pipeline = repo_pipelines(server.engine, ref.repo.id)[-1]
    assert branch_pipeline.id is not None and branch_pipeline.ref == "guide"
    assert sorted(jobs_by_name(server.engine, branch_pipeline.id)) == ["docs", "publish", "test"]


def test_no_warnings_store_none_and_a_bad_compare_to_is_a_config_error(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".gitlab-ci.yml": "job:\n  script: [x]\n"})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.config_warnings is None and pipeline.config_errors is None

    pushed.work.commit({".gitlab-ci.yml": "job:\n  script: [x]\n  rules:\n    - changes:\n        paths: [a]\n"
                                          "        compare_to: nowhere\n"}, "compare")
    git.push_to(pushed.work.path, ref)
    wait_seen(server.engine, ref.repo.id, count=2)
    failed = repo_pipelines(server.engine, ref.repo.id)[-1]
    assert failed.status == CONFIG_ERROR
    assert failed.config_errors == [
        {"line": None, "message": "“rules: changes: compare_to”: “nowhere” is not a branch, tag or commit of this "
                                  "repository"},
    ]
