"""Resource groups (``ci.resource_groups``): one job of a group at a time per repository, handed on when the holder
ends, also when several workers finish jobs at the same moment (threads, each in its own transaction, through the
dispatcher's ``_finish``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import update
from sqlmodel import col, select

from ci import dispatch, job_actions, lifecycle, pipelines, resource_groups
from ci.models import Job, Pipeline
from ci.models.lifecycle import OLDEST_FIRST
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from tests.ci.pipeline_helpers import jobs_by_name, only_pipeline, pipeline_status, push_files, wait_seen

CONFIG = """\
stages: [build, deploy]
build:
  stage: build
  script: [make]
deploy:
  stage: deploy
  resource_group: production
  script: [ship]
"""


def _setup(server, factory, git, count: int):  # type: ignore[no-untyped-def]
    """A repository with ``count`` pipelines of CONFIG on one commit (a push, then "Run pipeline"s, which do not
    make each other redundant)."""
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".forge-ci.yml": CONFIG}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    ids = [only_pipeline(server.engine, ref.repo.id).id]
    with session_scope(server.engine) as s:
        for _ in range(count - 1):
            ids.append(pipelines.run_pipeline(s, server.settings, ref, owner, "main", {}).id)
    return owner, ref, [i for i in ids if i is not None]


def _job(engine, pid: int, name: str) -> Job:  # type: ignore[no-untyped-def]
    return jobs_by_name(engine, pid)[name]


def _end(engine, job_id: int, status: str = "success") -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        s.execute(update(Job).where(col(Job.id) == job_id, col(Job.status) == "pending")
                  .values(status="running", started_at=utcnow()))
    with session_scope(engine) as s:
        assert dispatch._finish(s, job_id, status, reason="" if status == "success" else "script_failure") is not None


def _deploys(engine, repo_id: int) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        rows = s.exec(select(Job).where(Job.repo_id == repo_id, Job.name == "deploy")).all()
        return {j.pipeline_id: j.status for j in rows if j.retry_of_id is None}


def _together(*calls: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_one_job_of_a_group_at_a_time_and_the_next_one_follows(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, (a, b, c) = _setup(server, factory, git, 3)
    e = server.engine
    for pid in (a, b, c):
        _end(e, _job(e, pid, "build").id or 0)
    assert _deploys(e, ref.repo.id) == {a: "pending", b: "waiting_for_resource", c: "waiting_for_resource"}
    assert {pipeline_status(e, p) for p in (a, b, c)} == {"running"}  # waiting for a resource is queued
    with session_scope(e) as s:
        waiting = s.get(Job, _job(e, b, "deploy").id)
        assert waiting is not None
        facts = lifecycle.job_page_facts(s, waiting)["lifecycle"]
        assert facts["resource_group"] == "production" and facts["holder"].id == _job(e, a, "deploy").id
    _end(e, _job(e, a, "deploy").id or 0)
    assert _deploys(e, ref.repo.id) == {a: "success", b: "pending", c: "waiting_for_resource"}
    assert pipeline_status(e, a) == "success"

    # Canceling a waiting job leaves the holder alone; canceling the holder hands the group on (to nobody here).
    with session_scope(e) as s:
        job = s.get(Job, _job(e, c, "deploy").id)
        assert job is not None
        job_actions.cancel_job(s, owner, job)
    assert _deploys(e, ref.repo.id) == {a: "success", b: "pending", c: "canceled"}
    with session_scope(e) as s:
        job = s.get(Job, _job(e, b, "deploy").id)
        assert job is not None
        job_actions.cancel_job(s, owner, job)
        assert resource_groups.holder_of(s, ref.repo.id, "production") is None
    # A failed holder frees the group too; a retry of it queues again like any job.
    with session_scope(e) as s:
        d = pipelines.run_pipeline(s, server.settings, ref, owner, "main", {}).id
    assert d is not None
    _end(e, _job(e, d, "build").id or 0)
    assert _job(e, d, "deploy").status == "pending"
    with session_scope(e) as s:
        pipeline = s.get(Pipeline, b)
        assert pipeline is not None
        job_actions.retry_failed(s, owner, pipeline)
    assert _job(e, b, "deploy").status == "waiting_for_resource"
    _end(e, _job(e, d, "deploy").id or 0, "failed")
    assert _job(e, b, "deploy").status == "pending"


def test_concurrent_finishing_never_gives_a_group_to_two_jobs(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, ids = _setup(server, factory, git, 6)
    e = server.engine
    first, extra = ids[:4], ids[4:]
    _together(*[(lambda pid=pid: _end(e, _job(e, pid, "build").id or 0)) for pid in first])

    def check() -> None:
        states = list(_deploys(e, ref.repo.id).values())
        active = [s for s in states if s in ("pending", "running")]
        assert len(active) <= 1, states
        if "waiting_for_resource" in states:
            assert len(active) == 1, states  # nobody waits while the group is free

    check()
    assert list(_deploys(e, ref.repo.id).values()).count("pending") == 1
    # Each round: the holder ends while another pipeline's deploy becomes ready, in two workers at once.
    for _ in range(len(ids)):
        holder = next((p for p, st in _deploys(e, ref.repo.id).items() if st == "pending"), None)
        if holder is None:
            break
        calls = [lambda h=holder: _end(e, _job(e, h, "deploy").id or 0)]
        if extra:
            pid = extra.pop()
            calls.append(lambda pid=pid: _end(e, _job(e, pid, "build").id or 0))
        _together(*calls)
        check()
    assert set(_deploys(e, ref.repo.id).values()) == {"success"}
    with session_scope(e) as s:
        assert resource_groups.holder_of(s, ref.repo.id, "production") is None


def test_oldest_first_waits_for_the_oldest_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, (a, b) = _setup(server, factory, git, 2)
    e = server.engine
    with session_scope(e) as s:
        assert ref.repo.id is not None
        resource_groups.set_process_mode(s, ref.repo.id, "production", OLDEST_FIRST)
    _end(e, _job(e, b, "build").id or 0)
    # The group is free, but the older pipeline's deploy is still to come: b waits for it.
    assert _deploys(e, ref.repo.id) == {a: "created", b: "waiting_for_resource"}
    _end(e, _job(e, a, "build").id or 0)
    assert _deploys(e, ref.repo.id) == {a: "pending", b: "waiting_for_resource"}
    _end(e, _job(e, a, "deploy").id or 0)
    assert _deploys(e, ref.repo.id) == {a: "success", b: "pending"}


def test_sweep_hands_on_a_group_left_behind(server, factory, git):  # type: ignore[no-untyped-def]
    _, ref, (a, b) = _setup(server, factory, git, 2)
    e = server.engine
    for pid in (a, b):
        _end(e, _job(e, pid, "build").id or 0)
    assert _deploys(e, ref.repo.id) == {a: "pending", b: "waiting_for_resource"}
    # A worker died between the holder ending and the group being handed on: only the job row was written.
    with session_scope(e) as s:
        s.execute(update(Job).where(col(Job.id) == _job(e, a, "deploy").id).values(status="success"))
    assert _deploys(e, ref.repo.id)[b] == "waiting_for_resource"
    lifecycle.repair_resource_groups(e)  # (the server's own sweep may have done it already)
    assert _deploys(e, ref.repo.id) == {a: "success", b: "pending"}
    with session_scope(e) as s:
        holder = resource_groups.holder_of(s, ref.repo.id, "production")
        assert holder is not None and holder.id == _job(e, b, "deploy").id
