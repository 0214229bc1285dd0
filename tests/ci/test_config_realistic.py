"""A pipeline file of the size and style a Python project keeps in ``.gitlab-ci.yml``, read and planned for the
triggers it is written for."""

from __future__ import annotations

from ci.config import Image, Plan, load, plan, used_stages

GITLAB_CI = r"""
# Python package: lint, test on several interpreters, build, publish on tags, docs on the default branch.
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
    - if: $CI_COMMIT_TAG =~ /^v\d+\.\d+\.\d+$/

stages:
  - lint
  - test
  - build
  - publish

variables:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"
  PYTHONDONTWRITEBYTECODE: "1"
  PACKAGE: example_pkg
  DIST_DIR: "$CI_PROJECT_DIR/dist"
  COVERAGE_FLOOR:
    value: "85"
    description: Minimum line coverage accepted by the test jobs.

default:
  image: python:3.12-slim
  tags: [docker]
  timeout: 20 minutes
  before_script:
    - python -V
    - pip install --upgrade pip

.install: &install
  - pip install -e ".[test]"

.python_changes: &python_changes
  - "src/**/*.py"
  - "tests/**/*.py"
  - pyproject.toml
  - .gitlab-ci.yml

.test:
  stage: test
  needs: []
  script:
    - *install
    - pytest -q --cov=$PACKAGE --cov-fail-under=$COVERAGE_FLOOR
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes: *python_changes
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
    - if: $CI_COMMIT_TAG

ruff:
  stage: lint
  needs: []
  script:
    - pip install ruff
    - ruff check src tests
    - ruff format --check src tests

mypy:
  stage: lint
  needs: []
  script:
    - *install
    - pip install mypy
    - mypy src
  allow_failure: true

test:3.10:
  extends: .test
  image: python:3.10-slim

test:3.11:
  extends: .test
  image: python:3.11-slim

test:3.12:
  extends: .test
  timeout: 45m
  variables:
    COVERAGE_FLOOR: "90"

test:windows-like:
  extends: .test
  image:
    name: registry.example.com/tools/python-win:3.12
    entrypoint: [""]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      allow_failure: true
    - when: never

build:
  stage: build
  needs:
    - job: ruff
    - job: test:3.12
      optional: true
  script:
    - pip install build
    - python -m build --outdir $DIST_DIR
  only:
    - main
    - tags
    - /^release\/.*$/

docs:
  stage: build
  script:
    - pip install -e ".[docs]"
    - mkdocs build --strict
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      changes:
        - docs/**/*
        - mkdocs.yml
    - if: $CI_PIPELINE_SOURCE == "web"

publish:
  stage: publish
  needs: [build]
  before_script: []
  script:
    - pip install twine
    - twine upload --non-interactive $DIST_DIR/*
  variables:
    TWINE_USERNAME: __token__
  rules:
    - if: $CI_COMMIT_TAG =~ /^v\d+\.\d+\.\d+$/
      when: manual
  timeout: 10m

cleanup:
  stage: .post
  before_script: []
  script: echo "pipeline $CI_PIPELINE_ID finished"
  when: always
  except:
    variables:
      - $SKIP_CLEANUP
"""

BASE = {"CI_DEFAULT_BRANCH": "main", "CI_PROJECT_DIR": "/builds/acme/example", "CI_PROJECT_PATH": "acme/example"}


def on_branch(name: str, **extra: str) -> dict[str, str]:
    return {**BASE, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": name, "CI_COMMIT_REF_NAME": name, **extra}


def jobs(result: Plan) -> list[str]:
    return [job.name for job in result.jobs]


def test_the_file_is_read() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    assert config.warnings == ()
    assert config.stages == (".pre", "lint", "test", "build", "publish", ".post")
    assert [job.name for job in config.jobs] == [
        "ruff", "mypy", "test:3.10", "test:3.11", "test:3.12", "test:windows-like", "build", "docs", "publish",
        "cleanup",
    ]
    assert used_stages(config) == ("lint", "test", "build", "publish", ".post")
    by_name = {job.name: job for job in config.jobs}
    mypy = by_name["mypy"]
    assert mypy.script == ('pip install -e ".[test]"', "pip install mypy", "mypy src")
    assert mypy.before_script == ("python -V", "pip install --upgrade pip")
    assert mypy.image == Image("python:3.12-slim") and mypy.tags == ("docker",) and mypy.timeout_seconds == 1200
    assert by_name["test:3.12"].timeout_seconds == 2700
    assert by_name["test:3.10"].image == Image("python:3.10-slim")
    assert by_name["test:windows-like"].image == Image("registry.example.com/tools/python-win:3.12", ("",))
    assert by_name["publish"].before_script == ()
    assert config.variables["COVERAGE_FLOOR"] == "85"


def test_push_to_the_default_branch() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    result = plan(config, on_branch("main", CI_PIPELINE_ID="41"), changed_paths=["src/example_pkg/core.py"])
    assert jobs(result) == [
        "ruff", "mypy", "test:3.10", "test:3.11", "test:3.12", "test:windows-like", "build", "cleanup",
    ]
    by_name = {job.name: job for job in result.jobs}
    assert by_name["test:3.12"].variables["COVERAGE_FLOOR"] == "90"
    assert by_name["test:3.11"].variables["COVERAGE_FLOOR"] == "85"
    assert by_name["build"].variables["DIST_DIR"] == "/builds/acme/example/dist"
    assert by_name["build"].needs == ("ruff", "test:3.12")
    assert by_name["test:windows-like"].allow_failure is True
    assert by_name["mypy"].allow_failure is True
    assert by_name["cleanup"].when == "always"
    assert result.stages == ("lint", "test", "build", ".post")


def test_docs_change_on_the_default_branch_builds_docs() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    result = plan(config, on_branch("main"), changed_paths=["docs/usage/index.md"])
    assert "docs" in jobs(result)


def test_feature_branch_without_merge_request() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    result = plan(config, on_branch("feature/login"), changed_paths=["src/example_pkg/login.py"])
    # Tests only run for merge requests, the default branch and tags; build only on main, tags and release/*.
    assert jobs(result) == ["ruff", "mypy", "cleanup"]


def test_feature_branch_with_an_open_merge_request_makes_no_branch_pipeline() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    result = plan(config, on_branch("feature/login", CI_OPEN_MERGE_REQUESTS="acme/example!7"))
    assert result.skipped_by_workflow and result.jobs == ()


def test_merge_request_pipeline_runs_tests_when_python_changed() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    variables = {**BASE, "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_REF_NAME": "feature/login"}
    result = plan(config, variables, changed_paths=["src/example_pkg/login.py"])
    # With workflow:rules, jobs without rules/only run in every pipeline (GitLab drops its default only: then).
    assert jobs(result) == ["ruff", "mypy", "test:3.10", "test:3.11", "test:3.12", "cleanup"]
    assert [job.needs for job in result.jobs if job.name.startswith("test:")] == [(), (), ()]
    docs_only = plan(config, variables, changed_paths=["README.md"])
    assert jobs(docs_only) == ["ruff", "mypy", "cleanup"]


def test_release_tag_offers_a_manual_publish() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    variables = {**BASE, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.4.0", "CI_COMMIT_REF_NAME": "v1.4.0"}
    result = plan(config, variables, changed_paths=None)
    assert jobs(result) == [
        "ruff", "mypy", "test:3.10", "test:3.11", "test:3.12", "build", "publish", "cleanup",
    ]
    publish = result.jobs[jobs(result).index("publish")]
    assert publish.when == "manual"
    # A manual job from rules blocks unless the rule says allow_failure (GitLab's rule).
    assert publish.allow_failure is False
    assert publish.variables["TWINE_USERNAME"] == "__token__"
    assert publish.timeout_seconds == 600


def test_other_tags_make_no_pipeline() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    variables = {**BASE, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "nightly", "CI_COMMIT_REF_NAME": "nightly"}
    assert plan(config, variables).skipped_by_workflow


def test_skip_cleanup_variable() -> None:
    config = load(GITLAB_CI, ".gitlab-ci.yml")
    result = plan(config, on_branch("main", SKIP_CLEANUP="1"), changed_paths=[])
    assert "cleanup" not in jobs(result)
