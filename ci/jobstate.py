"""The job state machine (docs/ci.md, "Job states").

``advance`` is the one place jobs move from ``created`` to ``pending``/``manual``/``skipped`` and the pipeline's
status is derived from its jobs. Everything that changes a job (the dispatcher finishing it, cancel, retry, play)
ends by calling ``advance``, which first locks the pipeline row: two jobs finishing at once in two workers are then
judged one after the other, so the later one always sees the earlier one done and the next stage is never
forgotten.

Only the latest attempt of each job name counts; a retry adds a row (``retry_of_id``) and keeps the old one.

Lifecycle states (issue 5): a ``when: delayed`` job whose turn comes becomes ``scheduled`` until its ``start_in``
has passed (``ci.lifecycle`` starts it); a job naming a ``resource_group`` goes through ``ci.resource_groups``,
which makes it ``pending`` or ``waiting_for_resource``; the groups held by jobs that ended are released here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlmodel import Session, col, select

from ci import resource_groups, statuses, webhook_events
from ci.config.spec import PlannedJob
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
from forge.db.models_base import utcnow

FINAL_PIPELINE_STATES = (SUCCESS, FAILED, CANCELED, SKIPPED, CONFIG_ERROR)
# The longest ``start_in`` GitLab accepts; a larger stored value is cut to it.
MAX_START_IN = 7 * 24 * 3600


def new_job_row(source: PlannedJob | Job, pipeline_id: int, repo_id: int, tags: str) -> Job:
    """A new ``created`` row for ``source``'s job (name, stage, when, allow_failure, needs): a planned job's first
    attempt or a retry of an earlier attempt."""
    return Job(
        pipeline_id=pipeline_id,
        repo_id=repo_id,
        name=source.name,
        stage=source.stage,
        stage_index=source.stage_index,
        status=CREATED,
        when=source.when,
        allow_failure=source.allow_failure,
        needs=list(source.needs) if source.needs is not None else None,
        tags=tags,
        # A retry keeps these; for a planned job ``ci.pipelines`` stores the expanded group name afterwards.
        interruptible=source.interruptible,
        resource_group=source.resource_group,
    )


def latest_attempts(jobs: Iterable[Job]) -> list[Job]:
    """The newest attempt of each job name, in stage order and then in file order."""
    newest: dict[str, Job] = {}
    for job in jobs:
        current = newest.get(job.name)
        if current is None or (job.id or 0) > (current.id or 0):
            newest[job.name] = job
    first_id: dict[str, int] = {}
    for job in jobs:
        first_id[job.name] = min(first_id.get(job.name, job.id or 0), job.id or 0)
    return sorted(newest.values(), key=lambda j: (j.stage_index, first_id[j.name]))


def prerequisites(job: Job, jobs: list[Job]) -> list[Job]:
    """The jobs ``job`` waits for: its ``needs`` (names not in the pipeline are left out, as GitLab's optional
    needs), or every job of the earlier stages."""
    if job.needs is not None:
        wanted = set(job.needs)
        return [j for j in jobs if j.name in wanted and j.name != job.name]
    return [j for j in jobs if j.stage_index < job.stage_index]


def blocking_manual(job: Job) -> bool:
    """A manual job nobody played that holds up what comes after it: GitLab's manual jobs with
    ``allow_failure: false`` (the pipeline is "blocked"). With ``allow_failure: true`` (the default for
    ``when: manual`` outside ``rules``) later stages go on without it."""
    return job.status == MANUAL and not job.allow_failure


def _waiting(job: Job, prereqs: list[Job]) -> bool:
    if any(p.status in ACTIVE_STATES or blocking_manual(p) for p in prereqs):
        return True
    # A manual job that was not played does not hold up later stages (GitLab's default for when: manual), but a
    # job that names it in ``needs`` waits until it has been played and has finished.
    return job.needs is not None and any(p.status == MANUAL for p in prereqs)


def _decide(job: Job, prereqs: list[Job]) -> str:
    """What a created job whose prerequisites are done becomes (GitLab's ``when`` semantics)."""
    failed = any(p.status == FAILED and not p.allow_failure for p in prereqs)
    canceled = any(p.status == CANCELED for p in prereqs)
    # A needed job that was skipped (its own condition was false) leaves nothing to build on.
    blocked = job.needs is not None and any(p.status == SKIPPED for p in prereqs)
    if job.when == "always":
        return PENDING
    if job.when == "on_failure":
        return PENDING if failed else SKIPPED
    if failed or canceled or blocked:
        return SKIPPED
    if job.when == "delayed":
        return SCHEDULED
    return MANUAL if job.when == "manual" else PENDING


def pipeline_status(jobs: Iterable[Job]) -> str:
    """A pipeline's status from its jobs' latest attempts (GitLab's composite status): failures of
    ``allow_failure`` jobs count as success and manual jobs nobody played are left out unless they block
    (``allow_failure: false``), which makes the pipeline ``manual`` ("blocked")."""
    latest = latest_attempts(jobs)
    states = [SUCCESS if j.status == FAILED and j.allow_failure else j.status for j in latest]
    blocked = any(blocking_manual(j) for j in latest)
    counted = [s for s in states if s != MANUAL]
    # Queued counts as running (docs/ci.md): the dispatcher does not report a job's start to the pipeline, and a
    # pipeline shown "pending" while one of its jobs runs would be wrong; the job page says "waiting for a runner".
    # A job waiting for its resource group is queued too (the job page names the group).
    if any(s in (RUNNING, PENDING, WAITING_FOR_RESOURCE) for s in counted):
        return RUNNING
    if blocked:
        return MANUAL
    if any(s == SCHEDULED for s in counted):
        # GitLab's "delayed" pipeline: nothing runs until a delayed job's time comes.
        return SCHEDULED
    if any(s == CREATED for s in counted) or not counted:
        # Nothing can move until someone plays a manual job (only jobs that wait for one are left).
        return MANUAL
    if all(s == SKIPPED for s in counted):
        return SKIPPED
    if any(s == FAILED for s in counted):
        return FAILED
    if any(s == CANCELED for s in counted):
        return CANCELED
    return SUCCESS


def lock_pipeline(session: Session, pipeline_id: int) -> Pipeline:
    # FOR UPDATE on PostgreSQL; SQLite has one writer at a time anyway (the caller has already written).
    stmt = select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update().execution_options(
        populate_existing=True)
    return session.exec(stmt).one()


def fresh_jobs(session: Session, pipeline_id: int) -> list[Job]:
    stmt = select(Job).where(Job.pipeline_id == pipeline_id).order_by(col(Job.id)).execution_options(
        populate_existing=True)
    return list(session.exec(stmt))


def advance(session: Session, pipeline: Pipeline) -> Pipeline:
    """Move every created job whose turn has come, then recompute the pipeline's status (and the commit's
    "ci/forge" status when it changed). Idempotent; call it after any job change."""
    pipeline_id = pipeline.id
    assert pipeline_id is not None
    pipeline = lock_pipeline(session, pipeline_id)
    if pipeline.status == CONFIG_ERROR:
        return pipeline
    all_jobs = fresh_jobs(session, pipeline_id)
    jobs = latest_attempts(all_jobs)
    # Groups held by jobs that have ended go to the next job first (possibly one of this pipeline's).
    resource_groups.release_finished(session, all_jobs)
    now = utcnow()
    moved = True
    while moved:  # a job that becomes skipped or manual may release the next one at once
        moved = False
        for job in jobs:
            if job.status != CREATED:
                continue
            prereqs = prerequisites(job, jobs)
            if _waiting(job, prereqs):
                continue
            decided = _decide(job, prereqs)
            if decided == PENDING:
                resource_groups.enqueue(session, job)
            else:
                job.status = decided
                if decided == SKIPPED:
                    job.finished_at = now
                elif decided == SCHEDULED:
                    job.scheduled_at = now + timedelta(seconds=start_in(job))
                session.add(job)
            moved = True
    status = pipeline_status(jobs)
    started = [j.started_at for j in all_jobs if j.started_at is not None]
    changed, previous = status != pipeline.status, pipeline.status
    pipeline.status = status
    pipeline.started_at = min(started) if started else None
    if status in FINAL_PIPELINE_STATES:
        finished = [j.finished_at for j in jobs if j.finished_at is not None]
        pipeline.finished_at = pipeline.finished_at or (max(finished) if finished else now)
    else:
        pipeline.finished_at = None
    session.add(pipeline)
    session.flush()
    if changed:
        sync_commit_status(session, pipeline)
        webhook_events.pipeline_changed(session, pipeline, previous)
    return pipeline


def start_in(job: Job) -> int:
    """Seconds a delayed job waits once its turn has come (the spec's ``start_in``, at most a week)."""
    value = (job.spec or {}).get("start_in")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(min(max(value, 0), MAX_START_IN))


_DESCRIPTIONS = {
    CREATED: "Pipeline created",
    PENDING: "Pipeline is waiting for a runner",
    RUNNING: "Pipeline is running",
    MANUAL: "Pipeline is waiting for a manual action",
    SCHEDULED: "Pipeline is waiting for a delayed job",
    SUCCESS: "Pipeline passed",
    FAILED: "Pipeline failed",
    CANCELED: "Pipeline was canceled",
    SKIPPED: "Pipeline was skipped",
    CONFIG_ERROR: "The pipeline file has errors",
}


def sync_commit_status(session: Session, pipeline: Pipeline) -> None:
    assert pipeline.id is not None
    # The link is built from pipeline_id where it is shown, so it stays right when the repository is renamed.
    description = f"#{pipeline.id}: {_DESCRIPTIONS.get(pipeline.status, pipeline.status)}"
    statuses.set_pipeline_status(session, pipeline.repo_id, pipeline.sha, pipeline.id, pipeline.status,
                                 description, "", statuses.context_for(pipeline.source))


def on_job_finished(session: Session, job: Job) -> None:
    """Called by the dispatcher in the same transaction as a job reaching a final state: starts the jobs that
    waited for it and recomputes the pipeline's status and commit status."""
    session.flush()
    pipeline = session.get(Pipeline, job.pipeline_id)
    if pipeline is not None:
        advance(session, pipeline)


def on_job_started(session: Session, job: Job) -> None:
    """Optional for the dispatcher, after a claim: records the pipeline's start time at once (otherwise it is set
    when the first job finishes). The status needs no call: a queued job already counts as running."""
    on_job_finished(session, job)
