"""The job state machine and pipeline status: pipelines made by real pushes, jobs moved the way the dispatcher
moves them (a status change and ``on_job_finished`` in one transaction), user actions through ``ci.pipelines``."""

from __future__ import annotations

import pytest

from ci import job_actions, jobstate, pipelines
from ci.models import Job, Pipeline
from forge.db.engine import session_scope
from forge.errors import InvalidInput, NotFound, PermissionDenied
from forge.repos import services as repos
from tests.ci.pipeline_helpers import (
    finish_job,
    jobs_by_name,
    only_pipeline,
    pipeline_status,
    push_files,
    repo_pipelines,
    run_job,
    statuses,
    wait_seen,
)

STAGED = """\
stages: [build, test, deploy]
compile:
  stage: build
  script: [make]
unit:
  stage: test
  script: [test]
flaky:
  stage: test
  allow_failure: true
  script: [maybe]
ship:
  stage: deploy
  script: [ship]
cleanup:
  stage: deploy
  when: on_failure
  script: [clean]
report:
  stage: deploy
  when: always
  script: [report]
"""


def _pipeline(server, factory, git, config, *, owner=None):  # type: ignore[no-untyped-def]
    owner = owner or factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".forge-ci.yml": config})
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.id is not None
    return ref, pipeline.id


def test_stages_run_in_order_and_allow_failure_does_not_fail(server, factory, git):  # type: ignore[no-untyped-def]
    _, pid = _pipeline(server, factory, git, STAGED)
    e = server.engine
    assert statuses(e, pid) == {"compile": "pending", "unit": "created", "flaky": "created", "ship": "created",
                                "cleanup": "created", "report": "created"}
    run_job(e, pid, "compile")
    assert pipeline_status(e, pid) == "running"
    finish_job(e, pid, "compile", "success")
    assert statuses(e, pid)["unit"] == "pending" and statuses(e, pid)["flaky"] == "pending"
    finish_job(e, pid, "unit", "success")
    assert statuses(e, pid)["ship"] == "created"  # flaky still runs
    finish_job(e, pid, "flaky", "failed")
    s = statuses(e, pid)
    # An allowed failure is no failure: on_success jobs run, on_failure ones are skipped.
    assert (s["ship"], s["cleanup"], s["report"]) == ("pending", "skipped", "pending")
    finish_job(e, pid, "ship", "success")
    assert pipeline_status(e, pid) == "running"
    finish_job(e, pid, "report", "success")
    assert pipeline_status(e, pid) == "success"
    with session_scope(e) as session:
        p = session.get(Pipeline, pid)
        assert p is not None and p.started_at is not None and p.finished_at is not None
        assert p.finished_at >= p.started_at


def test_failure_skips_later_jobs_but_runs_on_failure_and_always(server, factory, git):  # type: ignore[no-untyped-def]
    _, pid = _pipeline(server, factory, git, STAGED)
    e = server.engine
    finish_job(e, pid, "compile", "failed")
    s = statuses(e, pid)
    assert (s["unit"], s["flaky"], s["ship"]) == ("skipped", "skipped", "skipped")
    assert (s["cleanup"], s["report"]) == ("pending", "pending")
    assert pipeline_status(e, pid) == "running"
    finish_job(e, pid, "cleanup", "success")
    finish_job(e, pid, "report", "success")
    assert pipeline_status(e, pid) == "failed"


def test_needs_start_jobs_as_soon_as_what_they_need_is_done(server, factory, git):  # type: ignore[no-untyped-def]
    config = """\
stages: [build, test, deploy]
a:
  stage: build
  script: [a]
b:
  stage: build
  script: [b]
after-a:
  stage: test
  needs: [a]
  script: [x]
at-once:
  stage: deploy
  needs: []
  script: [y]
after-both:
  stage: deploy
  needs: [after-a, b]
  script: [z]
"""
    _, pid = _pipeline(server, factory, git, config)
    e = server.engine
    assert statuses(e, pid) == {"a": "pending", "b": "pending", "after-a": "created", "at-once": "pending",
                                "after-both": "created"}
    finish_job(e, pid, "a", "success")
    assert statuses(e, pid)["after-a"] == "pending"  # b is still pending: needs ignore the stage
    finish_job(e, pid, "after-a", "success")
    assert statuses(e, pid)["after-both"] == "created"
    finish_job(e, pid, "b", "failed")
    # A needed job failed: the job that needs it is skipped.
    assert statuses(e, pid)["after-both"] == "skipped"
    finish_job(e, pid, "at-once", "success")
    assert pipeline_status(e, pid) == "failed"


def test_manual_jobs_wait_to_be_played_and_do_not_hold_the_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    config = """\
build:
  stage: build
  script: [b]
deploy:
  stage: deploy
  when: manual
  script: [d]
notify:
  stage: deploy
  needs: [deploy]
  script: [n]
"""
    ref, pid = _pipeline(server, factory, git, config)
    e = server.engine
    assert statuses(e, pid)["deploy"] == "created"
    finish_job(e, pid, "build", "success")
    assert statuses(e, pid) == {"build": "success", "deploy": "manual", "notify": "created"}
    assert pipeline_status(e, pid) == "manual"  # notify waits for someone to play deploy
    with session_scope(e) as s:
        job = s.get(Job, jobs_by_name(e, pid)["deploy"].id)
        assert job is not None
        job_actions.play_job(s, ref.owner, job)
    assert statuses(e, pid)["deploy"] == "pending"
    finish_job(e, pid, "deploy", "success")
    assert statuses(e, pid)["notify"] == "pending"
    finish_job(e, pid, "notify", "success")
    assert pipeline_status(e, pid) == "success"
    with session_scope(e) as s, pytest.raises(InvalidInput):
        job_actions.play_job(s, ref.owner, s.get(Job, jobs_by_name(e, pid)["deploy"].id))  # type: ignore[arg-type]


def test_cancel_pipeline_and_jobs(server, factory, git):  # type: ignore[no-untyped-def]
    ref, pid = _pipeline(server, factory, git, STAGED)
    e = server.engine
    run_job(e, pid, "compile")
    reader = factory.user()
    with session_scope(e) as s:
        repos.set_collaborator(s, ref.owner, ref, reader, "read")
    with session_scope(e) as s, pytest.raises(PermissionDenied):
        job_actions.cancel_pipeline(s, reader, s.get(Pipeline, pid))  # type: ignore[arg-type]
    with session_scope(e) as s:
        job_actions.cancel_pipeline(s, ref.owner, s.get(Pipeline, pid))  # type: ignore[arg-type]
    jobs = jobs_by_name(e, pid)
    # The running job is asked to stop (its runner reports the end); everything not started is canceled now.
    assert jobs["compile"].status == "running" and jobs["compile"].cancel_requested
    assert {n: j.status for n, j in jobs.items() if n != "compile"} == {
        "unit": "canceled", "flaky": "canceled", "ship": "canceled", "cleanup": "canceled", "report": "canceled"}
    assert jobs["unit"].failure_reason == "canceled"
    assert pipeline_status(e, pid) == "running"
    finish_job(e, pid, "compile", "canceled")
    assert pipeline_status(e, pid) == "canceled"
    with session_scope(e) as s, pytest.raises(InvalidInput):
        job_actions.cancel_pipeline(s, ref.owner, s.get(Pipeline, pid))  # type: ignore[arg-type]


def test_cancel_one_job_skips_what_depends_on_it(server, factory, git):  # type: ignore[no-untyped-def]
    ref, pid = _pipeline(server, factory, git, STAGED)
    e = server.engine
    with session_scope(e) as s:
        job_actions.cancel_job(s, ref.owner, s.get(Job, jobs_by_name(e, pid)["compile"].id))  # type: ignore[arg-type]
    s_ = statuses(e, pid)
    assert s_["compile"] == "canceled" and s_["unit"] == "skipped" and s_["cleanup"] == "skipped"
    assert s_["report"] == "pending"  # when: always
    finish_job(e, pid, "report", "success")
    assert pipeline_status(e, pid) == "canceled"


def test_retry_job_reruns_it_and_gives_skipped_jobs_their_chance(server, factory, git):  # type: ignore[no-untyped-def]
    ref, pid = _pipeline(server, factory, git, STAGED)
    e = server.engine
    finish_job(e, pid, "compile", "failed")
    finish_job(e, pid, "cleanup", "success")
    finish_job(e, pid, "report", "success")
    assert pipeline_status(e, pid) == "failed"
    old = jobs_by_name(e, pid)["compile"]
    with session_scope(e) as s:
        new = job_actions.retry_job(s, ref.owner, s.get(Job, old.id))  # type: ignore[arg-type]
        new_id = new.id
    jobs = jobs_by_name(e, pid)
    assert jobs["compile"].id == new_id != old.id and jobs["compile"].retry_of_id == old.id
    assert jobs["compile"].status == "pending"
    variables = {v["key"]: v["value"] for v in jobs["compile"].spec["variables"]}
    assert variables["CI_JOB_ID"] == str(new_id) and variables["CI_JOB_URL"].endswith(f"/-/jobs/{new_id}")
    assert jobs["compile"].spec["script"] == old.spec["script"]
    assert (jobs["unit"].status, jobs["ship"].status) == ("created", "created")  # were skipped
    assert pipeline_status(e, pid) == "running"
    with session_scope(e) as s, pytest.raises(InvalidInput):
        job_actions.retry_job(s, ref.owner, s.get(Job, old.id))  # type: ignore[arg-type]  # not the latest
    finish_job(e, pid, "compile", "success")
    finish_job(e, pid, "unit", "success")
    finish_job(e, pid, "flaky", "success")
    finish_job(e, pid, "ship", "success")
    # cleanup and report already ran in the first round; the latest attempts all passed.
    assert pipeline_status(e, pid) == "success"
    with session_scope(e) as s:
        assert len(pipelines.attempts_of(s, s.get(Job, new_id))) == 2  # type: ignore[arg-type]


def test_retry_failed_reruns_failed_and_canceled_jobs(server, factory, git):  # type: ignore[no-untyped-def]
    config = "a:\n  stage: test\n  script: [a]\nb:\n  stage: test\n  script: [b]\nc:\n  stage: test\n  script: [c]\n"
    ref, pid = _pipeline(server, factory, git, config)
    e = server.engine
    finish_job(e, pid, "a", "failed")
    finish_job(e, pid, "b", "success")
    with session_scope(e) as s:
        job_actions.cancel_job(s, ref.owner, s.get(Job, jobs_by_name(e, pid)["c"].id))  # type: ignore[arg-type]
    assert pipeline_status(e, pid) == "failed"
    with session_scope(e) as s:
        new = job_actions.retry_failed(s, ref.owner, s.get(Pipeline, pid))  # type: ignore[arg-type]
        assert sorted(j.name for j in new) == ["a", "c"]
    assert statuses(e, pid) == {"a": "pending", "b": "success", "c": "pending"}
    finish_job(e, pid, "a", "success")
    finish_job(e, pid, "c", "success")
    assert pipeline_status(e, pid) == "success"
    with session_scope(e) as s, pytest.raises(InvalidInput):
        job_actions.retry_failed(s, ref.owner, s.get(Pipeline, pid))  # type: ignore[arg-type]


def test_run_pipeline_with_variables(server, factory, git):  # type: ignore[no-untyped-def]
    config = """\
always:
  script: [a]
only-when-asked:
  rules:
    - if: $DEPLOY == "yes"
  script: [deploy]
"""
    ref, first = _pipeline(server, factory, git, config)
    e = server.engine
    assert set(statuses(e, first)) == {"always"}
    with session_scope(e) as s:
        variables = pipelines.parse_run_variables([("DEPLOY", "yes"), ("", ""), ("EXTRA", "1")])
        run = pipelines.run_pipeline(s, server.settings, ref, ref.owner, "main", variables)
        assert run.source == "web" and run.triggered_by_id == ref.owner.id and run.variables == variables
        run_id = run.id
    assert set(statuses(e, run_id)) == {"always", "only-when-asked"}  # type: ignore[arg-type]
    job = jobs_by_name(e, run_id)["only-when-asked"]  # type: ignore[arg-type]
    values = {v["key"]: v["value"] for v in job.spec["variables"]}
    assert values["DEPLOY"] == "yes" and values["EXTRA"] == "1" and values["CI_PIPELINE_SOURCE"] == "web"
    with session_scope(e) as s:
        with pytest.raises(NotFound):
            pipelines.run_pipeline(s, server.settings, ref, ref.owner, "no-such-branch", {})
        with pytest.raises(InvalidInput):
            pipelines.parse_run_variables([("1BAD", "x")])
        other = factory.user()
        with pytest.raises(NotFound):  # someone else's private repository stays hidden
            pipelines.run_pipeline(s, server.settings, factory.repo(other, private=True), ref.owner, "main", {})
        with pytest.raises(PermissionDenied):  # a public one is visible, but reading is not enough
            pipelines.run_pipeline(s, server.settings, ref, other, "main", {})
    assert len(repo_pipelines(e, ref.repo.id)) == 2


def test_pipeline_status_composition() -> None:
    def job(name: str, status: str, allow_failure: bool = False, id_: int = 0) -> Job:
        return Job(id=id_ or hash(name) % 10_000 + 1, pipeline_id=1, repo_id=1, name=name, stage="test",
                   status=status, allow_failure=allow_failure)

    assert jobstate.pipeline_status([job("a", "success"), job("b", "skipped")]) == "success"
    assert jobstate.pipeline_status([job("a", "skipped")]) == "skipped"
    assert jobstate.pipeline_status([job("a", "failed", True), job("b", "success")]) == "success"
    assert jobstate.pipeline_status([job("a", "failed"), job("b", "canceled")]) == "failed"
    assert jobstate.pipeline_status([job("a", "success"), job("b", "canceled")]) == "canceled"
    assert jobstate.pipeline_status([job("a", "pending"), job("b", "created")]) == "running"
    assert jobstate.pipeline_status([job("a", "success"), job("b", "pending")]) == "running"
    assert jobstate.pipeline_status([job("a", "running"), job("b", "created")]) == "running"
    # A manual job nobody played is left out when it may fail (when: manual's default); one that may not blocks.
    assert jobstate.pipeline_status([job("a", "success"), job("b", "manual", True)]) == "success"
    assert jobstate.pipeline_status([job("a", "success"), job("b", "manual")]) == "manual"
    # Only the latest attempt of a name counts.
    assert jobstate.pipeline_status([job("a", "failed", id_=1), job("a", "success", id_=2)]) == "success"
