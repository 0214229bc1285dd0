"""Job lifecycle (``ci.lifecycle``, ``ci.jobstate``): manual gates, delayed jobs, automatic retry and redundant
pipelines, on pipelines made by real pushes. Jobs end through the dispatcher's own path (``dispatch._finish``:
the state change, the job hooks and the state machine in one transaction), as when a runner reports."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from ci import dispatch, job_actions, lifecycle, pipelines
from ci.models import Job, Pipeline
from ci.models.lifecycle import AutoCancel, AutoRetry
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import InvalidInput
from tests.ci.pipeline_helpers import (
    finish_job,
    jobs_by_name,
    only_pipeline,
    pipeline_status,
    push_files,
    repo_pipelines,
    statuses,
    wait_seen,
)


def _pipeline(server, factory, git, config):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    pushed = push_files(git, ref, {".forge-ci.yml": config}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.id is not None
    return owner, ref, pushed, pipeline.id


def _job(engine, pid: int, name: str) -> Job:  # type: ignore[no-untyped-def]
    return jobs_by_name(engine, pid)[name]


def _set(engine, job_id: int, **values: Any) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        s.execute(update(Job).where(col(Job.id) == job_id).values(**values))


def _set_spec(engine, job_id: int, **keys: Any) -> None:  # type: ignore[no-untyped-def]
    """Store spec keys the way the planner does for the file's keyword (docs: contract "Job spec")."""
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.spec = {**job.spec, **keys}
        s.add(job)


def _run_and_end(engine, job_id: int, status: str, reason: str = "", exit_code: int | None = None) -> None:  # type: ignore[no-untyped-def]
    """A runner takes the job, then it ends the way the dispatcher ends jobs."""
    _set(engine, job_id, status="running", started_at=utcnow())
    with session_scope(engine) as s:
        assert dispatch._finish(s, job_id, status, reason=reason, exit_code=exit_code) is not None


# --- manual gates ---------------------------------------------------------------------------------------------


def test_blocking_manual_job_holds_later_stages_and_non_blocking_does_not(server, factory, git):  # type: ignore[no-untyped-def]
    config = """\
stages: [build, gate, ship]
build:
  stage: build
  script: [make]
approve:
  stage: gate
  when: manual
  allow_failure: false
  script: [ok]
optional:
  stage: gate
  when: manual
  script: [maybe]
ship:
  stage: ship
  script: [ship]
"""
    owner, _, _, pid = _pipeline(server, factory, git, config)
    e = server.engine
    finish_job(e, pid, "build", "success")
    assert statuses(e, pid) == {"build": "success", "approve": "manual", "optional": "manual", "ship": "created"}
    assert pipeline_status(e, pid) == "manual"  # GitLab's "blocked"
    with session_scope(e) as s:
        job = s.get(Job, _job(e, pid, "approve").id)
        assert job is not None
        job_actions.play_job(s, owner, job)
    # ship waits until approve has succeeded.
    assert statuses(e, pid)["approve"] == "pending" and statuses(e, pid)["ship"] == "created"
    finish_job(e, pid, "approve", "success")
    assert statuses(e, pid)["ship"] == "pending"  # "optional" (allowed to fail) never held it up
    finish_job(e, pid, "ship", "success")
    assert pipeline_status(e, pid) == "success"  # the unplayed optional job is left out


# --- delayed jobs ---------------------------------------------------------------------------------------------


DELAYED = """\
stages: [build, rollout, after]
build:
  stage: build
  script: [make]
canary:
  stage: rollout
  when: delayed
  start_in: 5 minutes
  script: [deploy]
verify:
  stage: after
  script: [check]
"""


def _delayed(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pid = _pipeline(server, factory, git, DELAYED)
    e = server.engine
    _set_spec(e, _job(e, pid, "canary").id or 0, start_in=300)
    finish_job(e, pid, "build", "success")
    return owner, ref, pid


def test_delayed_job_is_scheduled_then_started_once_by_the_sweep(server, factory, git):  # type: ignore[no-untyped-def]
    _, _, pid = _delayed(server, factory, git)
    e = server.engine
    canary = _job(e, pid, "canary")
    assert canary.status == "scheduled" and canary.scheduled_at is not None
    assert timedelta(seconds=290) < canary.scheduled_at - utcnow() <= timedelta(seconds=300)
    assert pipeline_status(e, pid) == "scheduled"
    assert statuses(e, pid)["verify"] == "created"  # a delayed job holds up the next stage
    assert canary.id not in lifecycle.start_due_jobs(e)  # not due yet
    _set(e, canary.id or 0, scheduled_at=utcnow() - timedelta(seconds=1))
    # Several workers sweeping at once start it exactly once.
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda: results.append(lifecycle.start_due_jobs(e))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # (The server's own sweep may win the race; what matters is that nobody starts it twice.)
    assert sum(r.count(canary.id or 0) for r in results) <= 1
    assert statuses(e, pid)["canary"] == "pending" and pipeline_status(e, pid) == "running"
    finish_job(e, pid, "canary", "success")
    assert statuses(e, pid)["verify"] == "pending"


def test_delayed_job_start_now_unschedule_and_cancel(server, factory, git):  # type: ignore[no-untyped-def]
    owner, _, pid = _delayed(server, factory, git)
    e = server.engine
    canary_id = _job(e, pid, "canary").id or 0
    with session_scope(e) as s:
        job = s.get(Job, canary_id)
        assert job is not None
        job_actions.unschedule(s, owner, job)
    canary = _job(e, pid, "canary")
    assert canary.status == "manual" and canary.scheduled_at is None
    assert pipeline_status(e, pid) == "manual"  # a delayed job may not fail by default: it now blocks
    with session_scope(e) as s, pytest.raises(InvalidInput):
        job = s.get(Job, canary_id)
        assert job is not None
        job_actions.start_now(s, owner, job)  # no longer delayed
    with session_scope(e) as s:
        job = s.get(Job, canary_id)
        assert job is not None
        job_actions.play_job(s, owner, job)
    assert statuses(e, pid)["canary"] == "pending"

    _, _, other = _delayed(server, factory, git)
    with session_scope(e) as s:
        job = s.get(Job, _job(e, other, "canary").id)
        assert job is not None
        job_actions.start_now(s, _owner_of(s, other), job)
    assert statuses(e, other)["canary"] == "pending"

    _, _, third = _delayed(server, factory, git)
    with session_scope(e) as s:
        pipeline = s.get(Pipeline, third)
        assert pipeline is not None
        job_actions.cancel_pipeline(s, _owner_of(s, third), pipeline)
    assert statuses(e, third) == {"build": "success", "canary": "canceled", "verify": "canceled"}
    _set(e, _job(e, third, "canary").id or 0, scheduled_at=utcnow() - timedelta(seconds=1))
    assert _job(e, third, "canary").id not in lifecycle.start_due_jobs(e)  # a canceled job stays canceled


def _owner_of(session, pipeline_id: int):  # type: ignore[no-untyped-def]
    from forge.accounts.models import Account
    from forge.repos.models import Repository

    pipeline = session.get(Pipeline, pipeline_id)
    repo = session.get(Repository, pipeline.repo_id)
    return session.get(Account, repo.owner_id)


# --- automatic retry ------------------------------------------------------------------------------------------


def _retry_pipeline(server, factory, git, retry: dict[str, Any]):  # type: ignore[no-untyped-def]
    _, _, _, pid = _pipeline(server, factory, git, "stages: [test, after]\nflaky:\n  stage: test\n  script: [x]\n"
                             "next:\n  stage: after\n  script: [y]\n")
    _set_spec(server.engine, _job(server.engine, pid, "flaky").id or 0, retry=retry)
    return pid


def test_failed_job_is_retried_automatically_up_to_max(server, factory, git):  # type: ignore[no-untyped-def]
    e = server.engine
    pid = _retry_pipeline(server, factory, git, {"max": 2, "when": ["script_failure"], "exit_codes": []})
    first = _job(e, pid, "flaky")
    _run_and_end(e, first.id or 0, "failed", "script_failure", 1)
    second = _job(e, pid, "flaky")
    assert second.id != first.id and second.retry_of_id == first.id and second.status == "pending"
    assert pipeline_status(e, pid) == "running"  # never "failed" in between
    assert statuses(e, pid)["next"] == "created"
    with session_scope(e) as s:
        record = s.get(AutoRetry, second.id)
        assert record is not None and (record.attempt, record.max_attempts) == (2, 3)
        assert record.retried_job_id == first.id and record.reason == "script_failure"
        # The new attempt is a new job: its own CI_JOB_ID.
        job = s.get(Job, second.id)
        assert job is not None
        assert {v["key"]: v["value"] for v in job.spec["variables"]}["CI_JOB_ID"] == str(second.id)
    _run_and_end(e, second.id or 0, "failed", "script_failure", 1)
    third = _job(e, pid, "flaky")
    assert third.id not in (first.id, second.id) and third.status == "pending"
    _run_and_end(e, third.id or 0, "failed", "script_failure", 1)
    assert _job(e, pid, "flaky").id == third.id  # out of retries
    assert statuses(e, pid) == {"flaky": "failed", "next": "skipped"}
    assert pipeline_status(e, pid) == "failed"


def test_retry_when_and_exit_codes_decide(server, factory, git):  # type: ignore[no-untyped-def]
    e = server.engine
    pid = _retry_pipeline(server, factory, git, {"max": 1, "when": ["runner_system_failure"], "exit_codes": []})
    flaky = _job(e, pid, "flaky")
    _run_and_end(e, flaky.id or 0, "failed", "script_failure", 1)
    assert _job(e, pid, "flaky").id == flaky.id and pipeline_status(e, pid) == "failed"

    pid = _retry_pipeline(server, factory, git, {"max": 1, "when": ["runner_system_failure"], "exit_codes": []})
    flaky = _job(e, pid, "flaky")
    with session_scope(e) as s:  # the runner went away: the server fails the job as runner_lost
        _set(e, flaky.id or 0, status="running", started_at=utcnow())
        assert dispatch._finish(s, flaky.id or 0, "failed", reason=dispatch.RUNNER_LOST) is not None
    assert _job(e, pid, "flaky").status == "pending" and pipeline_status(e, pid) == "running"

    # exit_codes alone: only the listed codes are retried.
    pid = _retry_pipeline(server, factory, git, {"max": 2, "when": ["always"], "exit_codes": [137]})
    flaky = _job(e, pid, "flaky")
    _run_and_end(e, flaky.id or 0, "failed", "script_failure", 1)
    assert _job(e, pid, "flaky").id == flaky.id
    pid = _retry_pipeline(server, factory, git, {"max": 2, "when": ["always"], "exit_codes": [137]})
    flaky = _job(e, pid, "flaky")
    _run_and_end(e, flaky.id or 0, "failed", "script_failure", 137)
    assert _job(e, pid, "flaky").id != flaky.id

    # A successful or canceled job is never retried; neither is a job without retry.
    pid = _retry_pipeline(server, factory, git, {"max": 2, "when": ["always"], "exit_codes": []})
    flaky = _job(e, pid, "flaky")
    _run_and_end(e, flaky.id or 0, "success")
    assert _job(e, pid, "flaky").id == flaky.id
    pid = _retry_pipeline(server, factory, git, {"max": 0, "when": ["always"], "exit_codes": []})
    flaky = _job(e, pid, "flaky")
    _run_and_end(e, flaky.id or 0, "failed", "script_failure", 1)
    assert _job(e, pid, "flaky").id == flaky.id


def test_retry_policy_reads_gitlab_forms() -> None:
    def job(retry: Any, reason: str = "script_failure", code: int | None = 1) -> Job:
        return Job(id=1, pipeline_id=1, repo_id=1, name="j", stage="test", status="failed", failure_reason=reason,
                   exit_code=code, spec={"retry": retry})

    assert lifecycle.retry_policy(job(2)) == (2, [], [])
    assert lifecycle.retry_policy(job({"max": 5})) == (2, [], [])  # GitLab's limit
    assert lifecycle.retry_allowed(job(2)) and lifecycle.retry_allowed(job({"max": 1, "when": "always"}))
    assert lifecycle.retry_allowed(job({"max": 1, "when": ["stuck_or_timeout_failure"]}, "job_timeout"))
    assert lifecycle.retry_allowed(job({"max": 1, "when": ["job_execution_timeout"]}, "job_timeout"))
    assert not lifecycle.retry_allowed(job({"max": 1, "when": ["script_failure"]}, "job_timeout"))
    assert lifecycle.retry_allowed(job({"max": 1, "when": ["runner_system_failure"]}, "system_failure"))
    assert not lifecycle.retry_allowed(job({"max": 1, "when": "always"}, "config_error"))
    # exit_codes with an explicit when: either one is enough.
    both = {"max": 1, "when": ["runner_system_failure"], "exit_codes": [137]}
    assert lifecycle.retry_allowed(job(both, "script_failure", 137))
    assert lifecycle.retry_allowed(job(both, "system_failure", None))
    assert not lifecycle.retry_allowed(job(both, "script_failure", 1))


# --- redundant pipelines ----------------------------------------------------------------------------------------


REDUNDANT = """\
stages: [build, deploy]
build:
  stage: build
  interruptible: true
  script: [make]
deploy:
  stage: deploy
  script: [ship]
"""


def _push_again(server, git, ref, pushed, n: int) -> Pipeline:  # type: ignore[no-untyped-def]
    pushed.work.commit({f"file{n}.txt": f"{n}\n"}, f"change {n}")
    git.push_to(pushed.work.path, ref)
    wait_seen(server.engine, ref.repo.id, n)
    return repo_pipelines(server.engine, ref.repo.id)[-1]


def test_new_push_cancels_older_pipeline_whose_started_jobs_are_interruptible(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pid = _pipeline(server, factory, git, REDUNDANT)
    e = server.engine
    build = _job(e, pid, "build")
    assert build.interruptible and not _job(e, pid, "deploy").interruptible
    _set(e, build.id or 0, status="running", started_at=utcnow())
    newer = _push_again(server, git, ref, pushed, 2)
    assert newer.id != pid and newer.status == "running"
    s1 = statuses(e, pid)
    assert s1["deploy"] == "canceled"  # not started: canceled whatever its interruptible
    running = _job(e, pid, "build")
    assert running.status == "running" and running.cancel_requested  # its runner is asked to stop
    with session_scope(e) as s:  # the runner stops it and reports
        job = s.get(Job, running.id)
        assert job is not None
        assert dispatch.report_state(s, job, "failed", 137, "script_failure") == "canceled"
        record = s.get(AutoCancel, pid)
        assert record is not None and record.by_pipeline_id == newer.id
    assert pipeline_status(e, pid) == "canceled"
    assert statuses(e, newer.id or 0) == {"build": "pending", "deploy": "created"}  # the newer one is untouched


def test_started_non_interruptible_job_keeps_the_older_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pid = _pipeline(server, factory, git, REDUNDANT)
    e = server.engine
    finish_job(e, pid, "build", "success")
    _set(e, _job(e, pid, "deploy").id or 0, status="running", started_at=utcnow())  # not interruptible
    _push_again(server, git, ref, pushed, 2)
    assert statuses(e, pid) == {"build": "success", "deploy": "running"}
    assert not _job(e, pid, "deploy").cancel_requested

    # A run of the same commit (another source, same sha) is not a newer change: nothing is canceled.
    owner2, ref2, _, pid2 = _pipeline(server, factory, git, REDUNDANT)
    with session_scope(e) as s:
        pipelines.run_pipeline(s, server.settings, ref2, owner2, "main", {})
    assert statuses(e, pid2) == {"build": "pending", "deploy": "created"}


def test_waiting_pipeline_on_other_branch_is_not_canceled(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pid = _pipeline(server, factory, git, REDUNDANT)
    pushed.work.git("checkout", "-b", "feature")
    pushed.work.commit({"f.txt": "x\n"}, "feature work")
    git.push_to(pushed.work.path, ref, "feature")
    wait_seen(server.engine, ref.repo.id, 2)
    assert statuses(server.engine, pid) == {"build": "pending", "deploy": "created"}
    with session_scope(server.engine) as s:
        assert s.exec(select(AutoCancel).where(AutoCancel.pipeline_id == pid)).first() is None


def test_pipeline_file_keywords_drive_the_lifecycle(server, factory, git):  # type: ignore[no-untyped-def]
    """The keywords as written in a .gitlab-ci.yml, through the planner, with nothing set by hand."""
    config = """\
stages: [test, deploy]
default:
  interruptible: true
unit:
  stage: test
  script: [pytest]
  retry:
    max: 1
    when: script_failure
rollout:
  stage: deploy
  when: delayed
  start_in: 2 hours
  interruptible: false
  resource_group: prod-$CI_COMMIT_REF_SLUG
  script: [deploy]
"""
    _, _, _, pid = _pipeline(server, factory, git, config)
    e = server.engine
    unit, rollout = _job(e, pid, "unit"), _job(e, pid, "rollout")
    assert unit.interruptible and not rollout.interruptible and rollout.resource_group == "prod-main"
    _run_and_end(e, unit.id or 0, "failed", "script_failure", 1)
    retried = _job(e, pid, "unit")
    assert retried.id != unit.id and retried.status == "pending" and pipeline_status(e, pid) == "running"
    _run_and_end(e, retried.id or 0, "success")
    rollout = _job(e, pid, "rollout")
    assert rollout.status == "scheduled" and rollout.scheduled_at is not None
    assert timedelta(minutes=119) < rollout.scheduled_at - utcnow() <= timedelta(hours=2)
    assert pipeline_status(e, pid) == "scheduled"
    _set(e, rollout.id or 0, scheduled_at=utcnow() - timedelta(seconds=1))
    lifecycle.start_due_jobs(e)
    assert _job(e, pid, "rollout").status == "pending"  # its group was free


# --- allow_failure: exit_codes ----------------------------------------------------------------------------------


def test_failure_with_an_allowed_exit_code_does_not_fail_the_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    e = server.engine
    config = "check:\n  script: [x]\n"
    for exit_code, pipeline_result, allowed in ((3, "success", True), (1, "failed", False)):
        _, _, _, pid = _pipeline(server, factory, git, config)
        check = _job(e, pid, "check")
        _set_spec(e, check.id or 0, allow_failure_exit_codes=[3, 137])
        _run_and_end(e, check.id or 0, "failed", "script_failure", exit_code)
        ended = _job(e, pid, "check")
        assert (ended.status, ended.allow_failure) == ("failed", allowed)
        assert pipeline_status(e, pid) == pipeline_result


def test_the_person_who_plays_or_retries_a_job_becomes_its_user(server, factory, git):  # type: ignore[no-untyped-def]
    e = server.engine
    owner, _, _, pid = _pipeline(server, factory, git, "deploy:\n  when: manual\n  script: [x]\n")
    assert _job(e, pid, "deploy").user_id is None  # the pipeline's user stands for it until someone acts
    with session_scope(e) as s:
        played = job_actions.play_job(s, owner, s.get(Job, _job(e, pid, "deploy").id))  # type: ignore[arg-type]
        assert played.user_id == owner.id
    _run_and_end(e, _job(e, pid, "deploy").id or 0, "failed", "script_failure", 1)
    with session_scope(e) as s:
        retried = job_actions.retry_job(s, owner, s.get(Job, _job(e, pid, "deploy").id))  # type: ignore[arg-type]
        assert retried.user_id == owner.id and retried.retry_of_id is not None
