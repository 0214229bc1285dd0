"""What a person does to jobs and pipelines: cancel, play a manual job, start or unschedule a delayed job, retry
(docs/ci.md, "Job states").

Each action checks write access, changes rows with conditional updates where a runner (or the delayed-job sweep)
may act at the same moment, and ends with ``jobstate.advance``. ``cancel_rows`` and ``retry_rows`` are also used
without a person by ``ci.lifecycle`` (redundant pipelines, automatic retry).
"""

from __future__ import annotations

import copy

from sqlmodel import Session, col, update

from ci import notify, resource_groups
from ci.jobstate import advance, fresh_jobs, latest_attempts, lock_pipeline, new_job_row, prerequisites
from ci.models import (
    ACTIVE_STATES,
    CANCELED,
    CONFIG_ERROR,
    CREATED,
    FAILED,
    MANUAL,
    PENDING,
    RUNNING,
    SCHEDULED,
    SKIPPED,
    SUCCESS,
    WAITING_FOR_RESOURCE,
    Job,
    Pipeline,
)
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.services import RepoRef, get_repo_by_id

# Job states a user may retry (GitLab: a finished job, whatever its result, except skipped ones).
RETRYABLE = (SUCCESS, FAILED, CANCELED)


def _require_write(session: Session, actor: Account | None, repo_id: int) -> RepoRef:
    ref = get_repo_by_id(session, repo_id)
    if ref is None:
        raise NotFound(N_("Repository not found."))
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    return ref


# States a job is canceled from at once (it has not started on a runner).
NOT_STARTED = (CREATED, PENDING, MANUAL, SCHEDULED, WAITING_FOR_RESOURCE)


def cancel_rows(session: Session, job_ids: list[int], *, running: bool = True) -> None:
    """Cancel jobs by id: those not running yet at once, running ones (unless ``running`` is false) by asking
    their runner (the dispatcher makes them ``canceled`` when the runner reports or is lost). Conditional
    updates, so a job a runner claims at this very moment is asked to stop rather than overwritten."""
    if not job_ids:
        return
    now = utcnow()
    session.exec(
        update(Job).where(col(Job.id).in_(job_ids), col(Job.status).in_(NOT_STARTED))
        .values(status=CANCELED, cancel_requested=True, failure_reason="canceled", finished_at=now)
    )
    if running:
        session.exec(
            update(Job).where(col(Job.id).in_(job_ids), col(Job.status) == RUNNING).values(cancel_requested=True)
        )
    # Core updates are not seen by the session hooks of ci.notify: wake the runners' cancel watches ourselves.
    notify.after_commit(session, *(notify.job_key(i) for i in job_ids))


def cancel_job(session: Session, actor: Account | None, job: Job) -> Job:
    _require_write(session, actor, job.repo_id)
    if job.status not in (*ACTIVE_STATES, MANUAL):
        raise InvalidInput(N_("Job #%(id)s has already finished."), id=job.id)
    assert job.id is not None
    cancel_rows(session, [job.id])
    pipeline = session.get(Pipeline, job.pipeline_id)
    assert pipeline is not None
    advance(session, pipeline)
    session.refresh(job)
    return job


def cancel_pipeline(session: Session, actor: Account | None, pipeline: Pipeline) -> Pipeline:
    _require_write(session, actor, pipeline.repo_id)
    assert pipeline.id is not None
    jobs = latest_attempts(fresh_jobs(session, pipeline.id))
    active = sorted(j.id for j in jobs if j.id is not None and j.status in (*ACTIVE_STATES, MANUAL))
    if not active:
        raise InvalidInput(N_("Pipeline #%(id)s has nothing left to cancel."), id=pipeline.id)
    cancel_rows(session, active)
    return advance(session, pipeline)


def start_waiting_job(session: Session, job_id: int, from_state: str, *, due: bool = False,
                      actor: Account | None = None) -> bool:
    """Move a ``manual`` or ``scheduled`` job on to ``pending`` (or ``waiting_for_resource`` when its resource
    group is busy), exactly once: the first statement is a conditional update, so of a person's click, a second
    click and the delayed-job sweep only one wins. ``due``: only when its ``scheduled_at`` has passed; ``actor``:
    the person who started it, from now on the job's user. Returns whether this call moved it."""
    now = utcnow()
    stmt = update(Job).where(col(Job.id) == job_id, col(Job.status) == from_state)
    if due:
        stmt = stmt.where(col(Job.scheduled_at) <= now)
    values: dict[str, object] = {"status": CREATED, "queued_at": now}
    if actor is not None:
        values["user_id"] = actor.id
    result = session.exec(stmt.values(**values))
    if result.rowcount != 1:
        return False
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    # The pipeline row before the group row: the lock order of ``ci.resource_groups``.
    pipeline = lock_pipeline(session, job.pipeline_id)
    resource_groups.enqueue(session, job)
    session.flush()
    if job.status == PENDING:
        notify.after_commit(session, notify.job_key(job_id), notify.JOBS_PENDING)
    advance(session, pipeline)
    return True


def play_job(session: Session, actor: Account | None, job: Job) -> Job:
    """Start a manual job."""
    _require_write(session, actor, job.repo_id)
    assert job.id is not None
    if not start_waiting_job(session, job.id, MANUAL, actor=actor):
        raise InvalidInput(N_("Job #%(id)s is not waiting to be started by hand."), id=job.id)
    session.refresh(job)
    return job


def start_now(session: Session, actor: Account | None, job: Job) -> Job:
    """Start a delayed (``scheduled``) job now rather than when its ``start_in`` has passed."""
    _require_write(session, actor, job.repo_id)
    assert job.id is not None
    if not start_waiting_job(session, job.id, SCHEDULED, actor=actor):
        raise InvalidInput(N_("Job #%(id)s is not waiting for its delayed start."), id=job.id)
    session.refresh(job)
    return job


def unschedule(session: Session, actor: Account | None, job: Job) -> Job:
    """Stop a delayed job's timer: it becomes a manual job that someone may still start (GitLab's "Unschedule")."""
    _require_write(session, actor, job.repo_id)
    result = session.exec(
        update(Job).where(col(Job.id) == job.id, col(Job.status) == SCHEDULED)
        .values(status=MANUAL, scheduled_at=None)
    )
    if result.rowcount != 1:
        raise InvalidInput(N_("Job #%(id)s is not waiting for its delayed start."), id=job.id)
    pipeline = session.get(Pipeline, job.pipeline_id)
    assert pipeline is not None
    advance(session, pipeline)
    session.refresh(job)
    return job


def _dependents(name: str, stage_index: int, jobs: list[Job]) -> set[str]:
    """Names of the jobs that wait, directly or through others, for job ``name``."""
    found: set[str] = set()
    frontier = [(name, stage_index)]
    while frontier:
        current, index = frontier.pop()
        for j in jobs:
            if j.name in found or j.name == name:
                continue
            waits = current in j.needs if j.needs is not None else j.stage_index > index
            if waits:
                found.add(j.name)
                frontier.append((j.name, j.stage_index))
    return found


def retry_rows(session: Session, jobs: list[Job], targets: list[Job], actor: Account | None = None) -> list[Job]:
    """New attempts of ``targets`` (latest attempts, among ``jobs``, the pipeline's latest attempts), queued at
    once when what they wait for is done. The caller has locked the pipeline and calls ``advance`` after.
    ``actor``: the person who asked (the new attempts' user); an automatic retry keeps the old attempt's user."""
    new_jobs = []
    for old in targets:
        new = new_job_row(old, old.pipeline_id, old.repo_id, old.tags)
        new.spec = copy.deepcopy(old.spec)
        new.retry_of_id = old.id
        new.user_id = actor.id if actor is not None else old.user_id
        session.add(new)
        new_jobs.append(new)
    session.flush()
    for old, new in zip(targets, new_jobs, strict=True):
        assert new.id is not None
        _renumber(new, old)
        # Asked for by a person: the job runs again once what it waits for is done, whatever its ``when`` said.
        replaced = [new if j.name == new.name else j for j in jobs]
        prereqs = prerequisites(new, replaced)
        if not any(p.status in ACTIVE_STATES or p.name in {t.name for t in targets} for p in prereqs):
            resource_groups.enqueue(session, new)
        session.add(new)
    # Jobs skipped because of what is now retried get their chance again (GitLab resets them to created).
    again: set[str] = set()
    for old in targets:
        again |= _dependents(old.name, old.stage_index, jobs)
    for j in jobs:
        if j.name in again and j.status == SKIPPED:
            j.status = CREATED
            j.finished_at = None
            session.add(j)
    session.flush()
    return new_jobs


def _renumber(new: Job, old: Job) -> None:
    """A retry is a new job: its CI_JOB_ID / CI_JOB_URL name the new row."""
    spec = dict(new.spec)
    values = []
    for v in spec.get("variables", []):
        v = dict(v)
        if v.get("key") == "CI_JOB_ID":
            v["value"] = str(new.id)
        elif v.get("key") == "CI_JOB_URL":
            v["value"] = str(v.get("value", "")).rsplit("/", 1)[0] + f"/{new.id}"
        values.append(v)
    spec["variables"] = values
    new.spec = spec


def retry_job(session: Session, actor: Account | None, job: Job) -> Job:
    """Run a finished job again as a new job (the old one stays, for its log)."""
    _require_write(session, actor, job.repo_id)
    pipeline = lock_pipeline(session, job.pipeline_id)
    if pipeline.status == CONFIG_ERROR:
        raise InvalidInput(N_("This pipeline has no jobs to retry."))
    jobs = latest_attempts(fresh_jobs(session, job.pipeline_id))
    latest = next(j for j in jobs if j.name == job.name)
    if latest.id != job.id:
        raise InvalidInput(N_("Job #%(id)s was already retried; retry its latest attempt."), id=job.id)
    if job.status not in RETRYABLE:
        raise InvalidInput(N_("Only finished jobs can be retried."))
    new = retry_rows(session, jobs, [job], actor)[0]
    advance(session, pipeline)
    session.refresh(new)
    return new


def retry_failed(session: Session, actor: Account | None, pipeline: Pipeline) -> list[Job]:
    """Retry every failed or canceled job of a pipeline (the latest attempts)."""
    _require_write(session, actor, pipeline.repo_id)
    pipeline_id = pipeline.id
    assert pipeline_id is not None
    pipeline = lock_pipeline(session, pipeline_id)
    jobs = latest_attempts(fresh_jobs(session, pipeline_id))
    targets = [j for j in jobs if j.status in (FAILED, CANCELED)]
    if not targets:
        raise InvalidInput(N_("Pipeline #%(id)s has no failed or canceled jobs to retry."), id=pipeline.id)
    new_jobs = retry_rows(session, jobs, targets, actor)
    advance(session, pipeline)
    return new_jobs
