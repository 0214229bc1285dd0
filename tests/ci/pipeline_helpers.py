"""Helpers for pipeline tests: push a pipeline file with real git, wait for the server to make the pipeline, and
move jobs the way the dispatcher does (status change + ``on_job_finished`` in one transaction), so the state
machine is exercised without a runner."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ci import jobstate, pipelines
from ci.models import RUNNING, Job, Pipeline, PushSeen
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.repos.models import PushEvent
from forge.repos.services import RepoRef
from tests.gitclient import GitClient, Work


@dataclass
class Pushed:
    work: Work
    sha: str


def push_files(git: GitClient, ref: RepoRef, files: dict[str, Any], name: str = "work",
               message: str = "add pipeline") -> Pushed:
    """A new working repository with one commit of ``files``, pushed to ``ref``'s main branch."""
    work = git.new_work(name)
    sha = work.commit(files, message)
    git.push_to(work.path, ref)
    return Pushed(work, sha)


def wait_seen(engine: Engine, repo_id: int, count: int = 1, timeout: float = 15.0) -> list[PushSeen]:
    """Wait until CI has handled ``count`` push events of the repository (the push trigger runs in the
    background); the PushSeen rows, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(engine) as s:
            rows = list(s.exec(
                select(PushSeen).join(PushEvent, col(PushEvent.id) == PushSeen.push_event_id)
                .where(PushEvent.repo_id == repo_id).order_by(col(PushSeen.push_event_id))
            ))
        if len(rows) >= count:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"CI handled {len(rows)} push events of repository {repo_id}, expected {count}")
        time.sleep(0.05)


def repo_pipelines(engine: Engine, repo_id: int) -> list[Pipeline]:
    with session_scope(engine) as s:
        return list(s.exec(select(Pipeline).where(Pipeline.repo_id == repo_id).order_by(col(Pipeline.id))))


def jobs_by_name(engine: Engine, pipeline_id: int) -> dict[str, Job]:
    """The latest attempt of each job, by name."""
    with session_scope(engine) as s:
        return {j.name: j for j in jobstate.latest_attempts(pipelines.jobs_of(s, pipeline_id))}


def statuses(engine: Engine, pipeline_id: int) -> dict[str, str]:
    return {name: j.status for name, j in jobs_by_name(engine, pipeline_id).items()}


def pipeline_status(engine: Engine, pipeline_id: int) -> str:
    with session_scope(engine) as s:
        p = s.get(Pipeline, pipeline_id)
        assert p is not None
        return p.status


def run_job(engine: Engine, pipeline_id: int, name: str) -> None:
    """What the dispatcher does when a runner takes a job."""
    with session_scope(engine) as s:
        job = jobs_by_name_in(s, pipeline_id, name)
        assert job.status == "pending", f"{name} is {job.status}, not pending"
        job.status = RUNNING
        job.started_at = utcnow()
        s.add(job)


def finish_job(engine: Engine, pipeline_id: int, name: str, status: str) -> None:
    """What the dispatcher does when a runner reports a final state: the change and on_job_finished in one
    transaction. A pending job is taken first."""
    with session_scope(engine) as s:
        job = jobs_by_name_in(s, pipeline_id, name)
        if job.status == "pending":
            job.started_at = utcnow()
        assert job.status in ("pending", "running"), f"{name} is {job.status}"
        job.status = status
        job.finished_at = utcnow()
        job.exit_code = 0 if status == "success" else 1
        job.failure_reason = "" if status == "success" else "script_failure"
        s.add(job)
        jobstate.on_job_finished(s, job)


def jobs_by_name_in(session: Any, pipeline_id: int, name: str) -> Job:
    jobs = {j.name: j for j in jobstate.latest_attempts(pipelines.jobs_of(session, pipeline_id))}
    return jobs[name]


def only_pipeline(engine: Engine, repo_id: int) -> Pipeline:
    rows = repo_pipelines(engine, repo_id)
    assert len(rows) == 1, [(p.id, p.status) for p in rows]
    return rows[0]
