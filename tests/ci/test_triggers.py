"""Push events become pipelines: real pushes to the live server, checked in the database CI writes.

No runner takes part: the jobs stay pending, which is exactly what a push alone must produce.
"""

from __future__ import annotations

import threading

from sqlmodel import col, select

from ci import triggers
from ci.models import Job, Pipeline, PushSeen
from forge.db.engine import session_scope
from forge.repos import refs
from forge.repos.models import CommitStatus, PushEvent
from tests.ci.pipeline_helpers import (
    jobs_by_name,
    only_pipeline,
    push_files,
    repo_pipelines,
    statuses,
    wait_seen,
)
from tests.factories import PASSWORD

PIPELINE = """\
stages: [build, test, deploy]
variables:
  GREETING: hello
compile:
  stage: build
  image: busybox:ci
  script: ["echo compiling $GREETING"]
unit:
  stage: test
  script: [./run-tests]
  timeout: 10 minutes
lint:
  stage: test
  needs: []
  tags: [docker, linux]
  script: [./lint]
package:
  stage: deploy
  needs: [compile]
  script: [./package]
release:
  stage: deploy
  rules:
    - if: $CI_COMMIT_TAG
  script: [./release]
"""


def test_push_creates_pipeline_with_stages_needs_and_rules(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".forge-ci.yml": PIPELINE, "README.md": "hi\n"}, message="Add CI\n\nBody text")
    seen = wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert seen[0].pipeline_id == pipeline.id and seen[0].outcome == ""
    assert (pipeline.ref, pipeline.ref_kind, pipeline.sha, pipeline.source) == ("main", "branch", pushed.sha, "push")
    assert pipeline.config_path == ".forge-ci.yml" and pipeline.commit_title == "Add CI"
    assert pipeline.triggered_by_id == owner.id
    # release is left out by its rule; compile and lint (needs: []) may start at once, the others wait.
    assert statuses(server.engine, pipeline.id) == {
        "compile": "pending", "unit": "created", "lint": "pending", "package": "created",
    }
    assert pipeline.status == "running"  # queued jobs count as running
    jobs = jobs_by_name(server.engine, pipeline.id)
    assert [jobs[n].stage for n in ("compile", "unit", "lint", "package")] == ["build", "test", "test", "deploy"]
    assert jobs["package"].needs == ["compile"] and jobs["lint"].needs == [] and jobs["unit"].needs is None
    assert jobs["lint"].tags == "docker linux"
    spec = jobs["compile"].spec
    assert spec["image"] == {"name": "busybox:ci", "entrypoint": None}
    assert spec["script"] == ["echo compiling $GREETING"] and spec["timeout"] == 3600
    assert jobs["unit"].spec["timeout"] == 600
    assert spec["git_depth"] == 20 and spec["before_script"] == [] and spec["after_script"] == []
    variables = {v["key"]: v for v in spec["variables"]}
    values = {k: v["value"] for k, v in variables.items()}
    assert values["CI"] == "true" and values["GREETING"] == "hello"
    assert values["CI_COMMIT_SHA"] == pushed.sha and values["CI_COMMIT_SHORT_SHA"] == pushed.sha[:8]
    assert values["CI_COMMIT_BRANCH"] == "main" and "CI_COMMIT_TAG" not in values
    assert values["CI_COMMIT_REF_NAME"] == "main" and values["CI_DEFAULT_BRANCH"] == "main"
    assert values["CI_COMMIT_MESSAGE"].startswith("Add CI\n\nBody text") and values["CI_COMMIT_TITLE"] == "Add CI"
    assert values["CI_PIPELINE_ID"] == str(pipeline.id) and values["CI_PIPELINE_SOURCE"] == "push"
    assert values["CI_JOB_ID"] == str(jobs["compile"].id) and values["CI_JOB_NAME"] == "compile"
    assert values["CI_JOB_STAGE"] == "build"
    assert values["CI_PROJECT_NAME"] == ref.repo.name and values["CI_PROJECT_NAMESPACE"] == owner.name
    assert values["CI_PROJECT_PATH"] == ref.full_name
    assert values["CI_PROJECT_DIR"] == f"/builds/{ref.full_name}" and values["CI_SERVER_URL"] == server.url
    # The job token is filled in by the dispatcher; stored empty and masked.
    assert variables["CI_JOB_TOKEN"] == {"key": "CI_JOB_TOKEN", "value": "", "masked": True}
    assert not variables["CI_COMMIT_SHA"]["masked"]
    with session_scope(server.engine) as s:
        status = s.exec(select(CommitStatus).where(CommitStatus.repo_id == ref.repo.id,
                                                   CommitStatus.sha == pushed.sha)).one()
    assert (status.context, status.state, status.pipeline_id) == ("ci/forge", "running", pipeline.id)


def test_gitlab_file_is_read_when_there_is_no_forge_file(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".gitlab-ci.yml": "build:\n  script: [make]\n"})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.config_path == ".gitlab-ci.yml"
    assert statuses(server.engine, pipeline.id) == {"build": "pending"}
    # Both present: the forge's own file wins.
    ref2 = factory.repo(owner)
    push_files(git, ref2, {".gitlab-ci.yml": "gl:\n  script: [a]\n", ".forge-ci.yml": "fg:\n  script: [b]\n"},
               name="both")
    wait_seen(server.engine, ref2.repo.id)
    pipeline2 = only_pipeline(server.engine, ref2.repo.id)
    assert pipeline2.config_path == ".forge-ci.yml" and statuses(server.engine, pipeline2.id) == {"fg": "pending"}


def test_no_file_deleted_ref_and_workflow_make_no_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {"README.md": "no ci here\n"})
    assert wait_seen(server.engine, ref.repo.id)[0].outcome == "no_config"
    # A file whose workflow only allows tags: the branch push makes nothing, a tag push a pipeline.
    pushed.work.commit({".forge-ci.yml": "workflow:\n  rules:\n    - if: $CI_COMMIT_TAG\njob:\n  script: [x]\n"},
                       "tags only")
    git.push_to(pushed.work.path, ref)
    assert wait_seen(server.engine, ref.repo.id, 2)[1].outcome == "workflow"
    pushed.work.git("branch", "topic")
    pushed.work.git("tag", "-a", "v1.0", "-m", "release 1.0")  # annotated: the ref names a tag object
    git.push_to(pushed.work.path, ref, "topic", "v1.0")
    seen = wait_seen(server.engine, ref.repo.id, 4)
    assert sorted(s.outcome for s in seen[2:]) == ["", "workflow"]
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert (pipeline.ref, pipeline.ref_kind, pipeline.sha) == ("v1.0", "tag", pushed.work.head())
    values = {v["key"]: v["value"] for v in jobs_by_name(server.engine, pipeline.id)["job"].spec["variables"]}
    assert values["CI_COMMIT_TAG"] == "v1.0" and "CI_COMMIT_BRANCH" not in values
    # Deleting the branch triggers nothing.
    git.push_to(pushed.work.path, ref, ":topic")
    assert wait_seen(server.engine, ref.repo.id, 5)[4].outcome == "deleted"
    assert len(repo_pipelines(server.engine, ref.repo.id)) == 1


def test_config_error_makes_a_failed_pipeline_with_the_errors(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".forge-ci.yml": "build:\n  script: [make]\n  scritp: [oops]\n"})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.status == "config_error" and pipeline.finished_at is not None
    assert pipeline.config_errors and pipeline.config_errors[0]["line"] == 3
    assert "scritp" in pipeline.config_errors[0]["message"]
    with session_scope(server.engine) as s:
        assert not list(s.exec(select(Job).where(Job.pipeline_id == pipeline.id)))
        status = s.exec(select(CommitStatus).where(CommitStatus.sha == pushed.sha)).one()
    assert status.state == "failed" and status.pipeline_id == pipeline.id


def test_rules_changes_see_the_pushed_paths(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    config = """\
docs:
  rules:
    - changes: ["docs/**/*"]
  script: [build-docs]
code:
  rules:
    - changes: [src/*.py]
  script: [test]
"""
    pushed = push_files(git, ref, {".forge-ci.yml": config, "src/app.py": "x\n", "docs/index.md": "d\n"})
    wait_seen(server.engine, ref.repo.id)
    # The first push of the default branch has nothing to compare with: every changes rule matches.
    assert set(statuses(server.engine, repo_pipelines(server.engine, ref.repo.id)[0].id)) == {"docs", "code"}
    pushed.work.commit({"docs/guide/intro.md": "new page\n"}, "docs only")
    git.push_to(pushed.work.path, ref)
    wait_seen(server.engine, ref.repo.id, 2)
    assert set(statuses(server.engine, repo_pipelines(server.engine, ref.repo.id)[1].id)) == {"docs"}
    # A new branch is compared with where it left the default branch.
    pushed.work.git("checkout", "-q", "-b", "feature")
    pushed.work.commit({"src/app.py": "y\n"}, "code change")
    git.push_to(pushed.work.path, ref, "feature")
    wait_seen(server.engine, ref.repo.id, 3)
    third = repo_pipelines(server.engine, ref.repo.id)[2]
    assert third.ref == "feature" and set(statuses(server.engine, third.id)) == {"code"}


def test_branch_made_in_the_web_ui_runs_a_pipeline(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".forge-ci.yml": "job:\n  script: [x]\n"})
    wait_seen(server.engine, ref.repo.id)
    web.login(owner.name, PASSWORD)
    resp = web.submit(f"/{ref.full_name}/branches", f"/{ref.full_name}/branches", {"name": "from-ui", "from": "main"})
    assert resp.status_code == 303, resp.text[:500]
    # No push handler runs for a web change: the periodic sweep picks the event up.
    seen = wait_seen(server.engine, ref.repo.id, 2)
    assert seen[1].outcome == ""
    second = repo_pipelines(server.engine, ref.repo.id)[1]
    assert (second.ref, second.sha, second.source) == ("from-ui", pushed.sha, "push")
    with session_scope(server.engine) as s:
        refs.delete_ref(s, server.settings.repos_dir, owner, ref, "branch", "from-ui")
    assert wait_seen(server.engine, ref.repo.id, 3)[2].outcome == "deleted"


def test_each_event_makes_one_pipeline_even_when_workers_race(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    repo = ref.repo
    pushed = push_files(git, ref, {".forge-ci.yml": "job:\n  script: [x]\n"})
    wait_seen(server.engine, repo.id)
    # Forget that CI saw the event, then let several "workers" process it at once.
    with session_scope(server.engine) as s:
        for row in s.exec(select(PushSeen).join(PushEvent, col(PushEvent.id) == PushSeen.push_event_id)
                          .where(PushEvent.repo_id == repo.id)):
            s.delete(row)
        for p in s.exec(select(Pipeline).where(Pipeline.repo_id == repo.id)):
            s.delete(p)
    threads = [threading.Thread(target=triggers.process_pending, args=(server.engine, server.settings))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_seen(server.engine, repo.id)
    pipelines_now = repo_pipelines(server.engine, repo.id)
    assert len(pipelines_now) == 1 and pipelines_now[0].sha == pushed.sha
