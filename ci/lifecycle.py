"""Job lifecycle beyond the state machine (docs/ci.md, "Job lifecycle"): automatic retry (``retry``), redundant
pipelines canceled by a newer one (``interruptible``), delayed jobs (``when: delayed``) started when due, and the
facts the job page shows about them. Resource groups are in ``ci.resource_groups``.

The semantics are GitLab's:

- ``retry``: a failed job is run again up to ``max`` times (0..2), counting every earlier attempt of the job in the
  pipeline, when its failure reason is in ``when`` (``always`` by default) or, if ``exit_codes`` is given, when the
  exit code is listed (``exit_codes`` alone retries only those codes). The new attempt is made in the transaction
  that fails the job, before the pipeline's status is computed, so the pipeline never shows ``failed`` in between.
- Redundant pipelines: a new pipeline on a branch cancels the older unfinished pipelines of that branch at other
  commits (any source, as GitLab's "auto-cancel redundant pipelines", on by default) when no job that has started
  in them is non-interruptible (``auto_cancel: on_new_commit: conservative``, GitLab's default). Jobs that have
  not started are canceled whatever their ``interruptible``. Pipelines waiting on a manual job, or older than a
  week, are left alone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from ci import job_actions, resource_groups
from ci.background import periodic
from ci.jobstate import advance, fresh_jobs, latest_attempts, lock_pipeline
from ci.models import (
    CONFIG_ERROR,
    CREATED,
    FAILED,
    PENDING,
    RUNNING,
    SCHEDULED,
    SUCCESS,
    WAITING_FOR_RESOURCE,
    Job,
    Pipeline,
)
from ci.models.lifecycle import AutoCancel, AutoRetry
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.settings import Settings

log = logging.getLogger(__name__)

MAX_RETRIES = 2  # GitLab's limit for retry:max
# Our failure reasons as GitLab's ``retry:when`` names them.
_RETRY_NAMES: dict[str, tuple[str, ...]] = {
    "script_failure": ("script_failure",),
    "job_timeout": ("job_execution_timeout", "stuck_or_timeout_failure"),
    # A runner that stopped answering: GitLab drops such a job as stuck; it is also a runner's system failure.
    "runner_lost": ("runner_system_failure", "stuck_or_timeout_failure"),
    "system_failure": ("runner_system_failure",),
    # The runner could not prepare the job's environment.
    "image_pull_failure": ("runner_system_failure",),
    "archived_failure": ("archived_failure",),
}
# Failures that would only happen again: never retried, not even with ``when: always``.
_NOT_RETRIED = ("config_error", "canceled")
# Pipeline states a newer pipeline may cancel (GitLab: alive or scheduled; a blocked "manual" one is left);
# ci.merge_requests selects a pull request's redundant pipelines by it too.
CANCELABLE_PIPELINES = (CREATED, PENDING, RUNNING, SCHEDULED, WAITING_FOR_RESOURCE)
# Job states that mean "has started" for the conservative rule (GitLab's running/success/failed).
_STARTED = (RUNNING, SUCCESS, FAILED)
REDUNDANT_MAX_AGE = timedelta(days=7)


# --- automatic retry -------------------------------------------------------------------------------------------


def retry_policy(job: Job) -> tuple[int, list[str], list[int]]:
    """``(max, when, exit_codes)`` from the job's stored spec, tolerant of missing or odd values."""
    raw = (job.spec or {}).get("retry") or {}
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"max": raw}
    if not isinstance(raw, dict):
        return 0, [], []
    value = raw.get("max", 0)
    maximum = value if isinstance(value, int) and not isinstance(value, bool) else 0
    when = raw.get("when") or []
    when_list = [when] if isinstance(when, str) else [str(w) for w in when if isinstance(w, str)]
    codes = raw.get("exit_codes") or []
    code_list = [codes] if isinstance(codes, int) else [c for c in codes if isinstance(c, int)]
    return max(0, min(maximum, MAX_RETRIES)), when_list, code_list


def retry_allowed(job: Job) -> bool:
    """Whether ``job``'s failure matches its ``retry:when`` / ``retry:exit_codes`` (the count is checked apart)."""
    if job.status != FAILED or job.failure_reason in _NOT_RETRIED:
        return False
    _, when, codes = retry_policy(job)
    names = _RETRY_NAMES.get(job.failure_reason, ("unknown_failure",))
    reason_matches = "always" in when or any(name in when for name in names)
    if codes:
        # GitLab: exit_codes is a condition of its own, or-ed with an explicit ``when``; given alone (the stored
        # ``when`` is then empty or the default ["always"]) only the listed codes are retried.
        explicit_when = bool(when) and when != ["always"]
        return job.exit_code in codes or (explicit_when and reason_matches)
    return reason_matches if when else True


def allowed_exit_code(job: Job) -> bool:
    """``allow_failure: exit_codes``: whether ``job`` failed with one of the exit codes its file allows (then
    its failure does not fail the pipeline, GitLab's "failed (allowed to fail)")."""
    codes = (job.spec or {}).get("allow_failure_exit_codes") or []
    return job.status == FAILED and job.exit_code is not None and job.exit_code in codes


def on_job_finished(session: Session, job: Job) -> None:
    """Called by the dispatcher in the transaction that finishes ``job``, before the state machine runs: a job
    that failed with an allowed exit code is marked allowed to fail, and a failed job its ``retry`` allows gets a
    new attempt at once."""
    if allowed_exit_code(job):
        job.allow_failure = True
        session.add(job)
        session.flush()
    maximum, _, _ = retry_policy(job)
    if maximum == 0 or not retry_allowed(job):
        return
    assert job.id is not None
    pipeline = lock_pipeline(session, job.pipeline_id)
    if pipeline.status == CONFIG_ERROR:
        return
    all_jobs = fresh_jobs(session, job.pipeline_id)
    attempts = [j for j in all_jobs if j.name == job.name]
    if attempts[-1].id != job.id or len(attempts) - 1 >= maximum:
        return  # already retried (by a person, at this very moment), or out of retries
    new = job_actions.retry_rows(session, latest_attempts(all_jobs), [job])[0]
    assert new.id is not None
    session.add(AutoRetry(job_id=new.id, retried_job_id=job.id, reason=job.failure_reason,
                          attempt=len(attempts) + 1, max_attempts=maximum + 1))
    session.flush()
    log.info("job %s failed (%s): retried automatically as job %s", job.id, job.failure_reason, new.id)


# --- redundant pipelines ----------------------------------------------------------------------------------------


def cancel_redundant(session: Session, pipeline: Pipeline) -> list[int]:
    """Cancel older pipelines of ``pipeline``'s branch that it makes redundant (module docstring); the ids of
    those canceled."""
    if pipeline.ref_kind != "branch" or pipeline.status == CONFIG_ERROR or pipeline.id is None:
        return []
    since = utcnow() - REDUNDANT_MAX_AGE
    # Newest first: every worker locks pipelines in descending id order (its own, the newest, first), so two
    # pushes landing together cannot deadlock on each other's older pipelines.
    older = session.exec(
        select(Pipeline.id).where(
            Pipeline.repo_id == pipeline.repo_id, Pipeline.ref == pipeline.ref, Pipeline.ref_kind == "branch",
            col(Pipeline.id) < pipeline.id, Pipeline.sha != pipeline.sha,
            col(Pipeline.status).in_(CANCELABLE_PIPELINES), col(Pipeline.created_at) >= since,
        ).order_by(col(Pipeline.id).desc())
    ).all()
    canceled = []
    for old_id in older:
        if old_id is not None and cancel_if_interruptible(session, old_id, pipeline.id):
            canceled.append(old_id)
    return canceled


def cancel_if_interruptible(session: Session, pipeline_id: int, by_pipeline_id: int) -> bool:
    """Cancel pipeline ``pipeline_id`` because the newer ``by_pipeline_id`` makes it redundant, unless it is no
    longer cancelable or a job that is not interruptible has started; True when it was canceled.

    Locks the pipeline: callers going through several must take them newest first (the order every worker uses),
    as :func:`cancel_redundant` and ci.merge_requests do."""
    old = lock_pipeline(session, pipeline_id)
    if old.status not in CANCELABLE_PIPELINES:
        return False
    all_jobs = fresh_jobs(session, pipeline_id)
    if any(j.status in _STARTED and not j.interruptible for j in all_jobs):
        return False  # a job that must not be interrupted has run or runs: let the pipeline finish
    active = [j for j in latest_attempts(all_jobs)
              if j.id is not None and j.status in (*job_actions.NOT_STARTED, RUNNING)]
    # Running jobs are all interruptible here (checked above under the pipeline lock); a job a runner claims
    # between that check and now is only canceled if it is interruptible, so nothing else is cut off midway.
    job_actions.cancel_rows(session, [j.id for j in active if j.id is not None and j.interruptible])
    job_actions.cancel_rows(session, [j.id for j in active if j.id is not None and not j.interruptible],
                            running=False)
    if session.get(AutoCancel, pipeline_id) is None:
        session.add(AutoCancel(pipeline_id=pipeline_id, by_pipeline_id=by_pipeline_id))
    advance(session, old)
    log.info("pipeline %s canceled: pipeline %s is newer on the same branch", pipeline_id, by_pipeline_id)
    return True


# --- delayed jobs and the sweep ---------------------------------------------------------------------------------


def start_due_jobs(engine: Engine, limit: int = 200) -> list[int]:
    """Start every delayed job whose time has come (each exactly once, even with several workers sweeping)."""
    now = utcnow()
    with session_scope(engine) as session:
        due = session.exec(
            select(Job.id).where(col(Job.status) == SCHEDULED, col(Job.scheduled_at) <= now)
            .order_by(col(Job.scheduled_at), col(Job.id)).limit(limit)
        ).all()
    started = []
    for job_id in due:
        if job_id is None:
            continue
        try:
            with session_scope(engine) as session:
                if job_actions.start_waiting_job(session, job_id, SCHEDULED, due=True):
                    started.append(job_id)
        except OperationalError:  # the database was busy: the next sweep tries again
            log.warning("could not start delayed job %s yet", job_id, exc_info=True)
    return started


def repair_resource_groups(engine: Engine) -> int:
    """Hand on resource groups nobody handed on (``ci.resource_groups.repair``); how many jobs it started."""
    with session_scope(engine) as session:
        groups = resource_groups.waiting_groups(session)
    started = 0
    for repo_id, key in groups:
        try:
            with session_scope(engine) as session:
                started += resource_groups.repair(session, repo_id, key)
        except OperationalError:  # busy, or a deadlock PostgreSQL broke: the next sweep tries again
            log.warning("could not hand on resource group %s of repository %s yet", key, repo_id, exc_info=True)
    return started


@periodic(5)
def sweep(engine: Engine, settings: Settings) -> None:
    """Every 5 s in every worker: delayed jobs that are due, and resource groups nobody handed on."""
    start_due_jobs(engine)
    repair_resource_groups(engine)


# --- the job page ------------------------------------------------------------------------------------------------


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    """What ``ci/job_lifecycle.html`` shows: the delayed start, the resource group and who holds it, whether this
    attempt was made by ``retry``, and whether a newer pipeline canceled this one."""
    facts: dict[str, Any] = {"now": utcnow(), "interruptible": job.interruptible,
                             "resource_group": job.resource_group, "holder": None, "auto_retry": None,
                             "auto_canceled_by": None, "retry_max": retry_policy(job)[0]}
    if job.status == WAITING_FOR_RESOURCE and job.resource_group:
        facts["holder"] = resource_groups.holder_of(session, job.repo_id, job.resource_group)
    if job.id is not None:
        facts["auto_retry"] = session.get(AutoRetry, job.id)
    if job.failure_reason == "canceled":
        cancel = session.get(AutoCancel, job.pipeline_id)
        facts["auto_canceled_by"] = cancel.by_pipeline_id if cancel is not None else None
    return {"lifecycle": facts}
