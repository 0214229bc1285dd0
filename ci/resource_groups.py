"""Resource groups (``resource_group:``): at most one job of a group, per repository, is pending or running.

A job whose turn has come and that names a group becomes ``waiting_for_resource``; then the group's row is locked
and, if nobody holds it, the next job by the group's process mode is given it (made ``pending``). When the holder
reaches a final state, ``jobstate.advance`` releases the group the same way. Everything that decides who holds a
group happens with the group row locked (``SELECT … FOR UPDATE``; on SQLite the transaction has already written,
so it is the only writer), which is what makes "one at a time" hold across server workers.

Lock order, to stay clear of deadlocks: a pipeline row (``jobstate.lock_pipeline``), then a group row, then the
rows of waiting jobs of other pipelines, which are taken with ``SKIP LOCKED`` so a worker holding a group never
waits for another worker. A waiting job skipped that way (or left behind by a crash) is picked up by
:func:`repair`, which the lifecycle sweep runs every few seconds.

A transaction may lock several group rows (a pipeline whose jobs use two groups); PostgreSQL ends a deadlock
between two such transactions by failing one, which is retried (a runner retries its report, the sweep runs again).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from ci import notify
from ci.models import CREATED, DONE_STATES, PENDING, RUNNING, SCHEDULED, WAITING_FOR_RESOURCE, Job
from ci.models.lifecycle import NEWEST_FIRST, OLDEST_FIRST, PROCESS_MODES, UNORDERED, ResourceGroup
from forge.db.models_base import utcnow
from forge.errors import InvalidInput
from forge.i18n import N_


def enqueue(session: Session, job: Job) -> None:
    """``job``'s turn has come: make it ``pending``, or ``waiting_for_resource`` when its group is busy."""
    now = utcnow()
    job.queued_at = now
    if not job.resource_group:
        job.status = PENDING
        session.add(job)
        return
    job.status = WAITING_FOR_RESOURCE
    session.add(job)
    session.flush()  # the write comes first: on SQLite this makes the transaction the only writer
    group = _locked_group(session, job.repo_id, job.resource_group)
    _assign(session, group)


def _locked_group(session: Session, repo_id: int, key: str) -> ResourceGroup:
    """The group's row, created when missing, locked until the transaction ends."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: two workers creating the same group at once both go on to lock the one row.
    session.execute(
        insert(ResourceGroup).values(repo_id=repo_id, key=key, process_mode=UNORDERED, holder_job_id=None,
                                     created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["repo_id", "key"])
    )
    stmt = (select(ResourceGroup).where(ResourceGroup.repo_id == repo_id, ResourceGroup.key == key)
            .with_for_update().execution_options(populate_existing=True))
    return session.exec(stmt).one()


def _holder_active(session: Session, group: ResourceGroup) -> bool:
    if group.holder_job_id is None:
        return False
    status = session.exec(select(Job.status).where(Job.id == group.holder_job_id)).first()
    return status in (PENDING, RUNNING)


def _next_waiting(session: Session, group: ResourceGroup) -> Job | None:
    """The job that gets the free group, by its process mode; None when nobody may have it now."""
    same = (col(Job.repo_id) == group.repo_id, col(Job.resource_group) == group.key)
    if group.process_mode in (OLDEST_FIRST, NEWEST_FIRST):
        # GitLab's ordered modes also count jobs still to come (created, delayed): the group waits for the
        # first pipeline's job in order even when a later pipeline's job is already waiting.
        order = col(Job.pipeline_id).asc() if group.process_mode == OLDEST_FIRST else col(Job.pipeline_id).desc()
        first = session.exec(
            select(Job.id, Job.status).where(*same, col(Job.status).in_([WAITING_FOR_RESOURCE, CREATED, SCHEDULED]))
            .order_by(order, col(Job.id)).limit(1)
        ).first()
        if first is None or first[1] != WAITING_FOR_RESOURCE:
            return None
        stmt = select(Job).where(col(Job.id) == first[0], col(Job.status) == WAITING_FOR_RESOURCE)
    else:
        stmt = (select(Job).where(*same, col(Job.status) == WAITING_FOR_RESOURCE)
                .order_by(col(Job.queued_at), col(Job.id)).limit(1))
    # SKIP LOCKED: a waiting job another transaction is changing right now (canceling it, say) is passed over
    # rather than waited for; see the module docstring.
    stmt = stmt.with_for_update(skip_locked=True).execution_options(populate_existing=True)
    return session.exec(stmt).first()


def _assign(session: Session, group: ResourceGroup) -> Job | None:
    """Give the locked, possibly free ``group`` to the next waiting job; that job, or None."""
    if _holder_active(session, group):
        return None
    job = _next_waiting(session, group)
    group.holder_job_id = job.id if job is not None else None
    group.updated_at = utcnow()
    session.add(group)
    if job is None:
        session.flush()
        return None
    job.status = PENDING
    session.add(job)
    session.flush()
    assert job.id is not None
    # The dispatcher's long polls wake up for the newly pending job once this commits.
    notify.after_commit(session, notify.job_key(job.id), notify.JOBS_PENDING)
    return job


def release_finished(session: Session, jobs: list[Job]) -> None:
    """Free the groups held by any of ``jobs`` that has reached a final state and give each to its next job."""
    done = [j.id for j in jobs if j.resource_group and j.status in DONE_STATES and j.id is not None]
    if not done:
        return
    held = session.exec(
        select(ResourceGroup.repo_id, ResourceGroup.key).where(col(ResourceGroup.holder_job_id).in_(done))
        .order_by(col(ResourceGroup.id))
    ).all()
    for repo_id, key in held:
        group = _locked_group(session, repo_id, key)
        if group.holder_job_id in done:  # checked again under the lock
            _assign(session, group)


def waiting_groups(session: Session) -> list[tuple[int, str]]:
    """``(repo_id, key)`` of the groups some job waits for, for :func:`repair`."""
    rows = session.exec(
        select(Job.repo_id, Job.resource_group).where(col(Job.status) == WAITING_FOR_RESOURCE)
        .group_by(col(Job.repo_id), col(Job.resource_group)).order_by(func.min(col(Job.id)))
    ).all()
    return [(repo_id, key) for repo_id, key in rows]


def repair(session: Session, repo_id: int, key: str) -> bool:
    """Give a free group to its next waiting job where nobody did (a job passed over as locked, a crash between a
    job ending and its group being released); whether a job was started. One group per transaction, so the
    sweep never holds two group locks at once."""
    group = _locked_group(session, repo_id, key)
    return _assign(session, group) is not None


def holder_of(session: Session, repo_id: int, key: str) -> Job | None:
    """The job holding a group now (for the job page), if any."""
    group = session.exec(
        select(ResourceGroup).where(ResourceGroup.repo_id == repo_id, ResourceGroup.key == key)
    ).first()
    if group is None or group.holder_job_id is None:
        return None
    return session.get(Job, group.holder_job_id)


def set_process_mode(session: Session, repo_id: int, key: str, mode: str) -> ResourceGroup:
    """Choose how a group picks its next job (GitLab sets this through its API, not the pipeline file)."""
    if mode not in PROCESS_MODES:
        raise InvalidInput(N_("Unknown process mode “%(mode)s”: use unordered, oldest_first or newest_first."),
                           mode=mode[:40])
    group = _locked_group(session, repo_id, key)
    group.process_mode = mode
    session.add(group)
    _assign(session, group)  # an ordered mode may now allow a different job
    return group
