"""Pipeline and job webhook events (GitLab's "Pipeline Hook" and "Job Hook" ideas, with the forge's JSON).

Both are queued in the transaction that changes the status, so a delivery exists exactly when the change
committed. A pipeline event goes out when its status changes (``ci.jobstate.advance``): the first one, when the
new pipeline leaves ``created``, has action ``created``; later ones the new status (``running``, ``success``,
``failed``, ``canceled``, ``manual``, ``skipped``...). A job event goes out when a runner takes the job
(``running``) and when it ends (``success``, ``failed``, ``canceled``), from ``ci.job_hooks``. With no hook on the
repository or its organisation this costs one indexed query and builds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from ci import jobstate
from ci.models import CREATED, Job, Pipeline
from ci.wire import job_json, pipeline_json
from forge.accounts.models import Account
from forge.repos.models import Repository
from forge.repos.services import get_repo_by_id
from forge.webhooks import events, queue
from forge.webhooks.payloads import envelope
from forge.webhooks.repo_events import base_url


def _jobs_summary(session: Session, pipeline_id: int) -> list[dict[str, Any]]:
    jobs = session.exec(select(Job).where(Job.pipeline_id == pipeline_id).order_by(col(Job.id)))
    return [{"id": j.id, "name": j.name, "stage": j.stage, "status": j.status, "allow_failure": j.allow_failure}
            for j in jobstate.latest_attempts(list(jobs))]


def pipeline_changed(session: Session, pipeline: Pipeline, previous: str) -> int:
    """Queue a ``pipeline`` event for ``pipeline``, whose status was ``previous``; returns how many deliveries."""
    repo = session.get(Repository, pipeline.repo_id)
    hooks = queue.hooks_for(session, repo, events.PIPELINE) if repo is not None else []
    ref = get_repo_by_id(session, pipeline.repo_id) if hooks else None
    if ref is None or pipeline.id is None:
        return 0
    base = base_url(session)
    action = "created" if previous == CREATED else pipeline.status
    sender = session.get(Account, pipeline.triggered_by_id) if pipeline.triggered_by_id is not None else None
    payload = envelope(session, base, ref, sender, {
        "action": action,
        "pipeline": pipeline_json(session, base, ref, pipeline).model_dump(mode="json"),
        "jobs": _jobs_summary(session, pipeline.id),
    })
    return len(queue.enqueue(session, hooks, events.PIPELINE, payload, action=action))


def job_changed(session: Session, job: Job) -> int:
    """Queue a ``job`` event for ``job``'s new status; returns how many deliveries."""
    repo = session.get(Repository, job.repo_id)
    hooks = queue.hooks_for(session, repo, events.JOB) if repo is not None else []
    ref = get_repo_by_id(session, job.repo_id) if hooks else None
    pipeline = session.get(Pipeline, job.pipeline_id) if ref is not None else None
    if ref is None or pipeline is None:
        return 0
    base = base_url(session)
    sender_id = job.user_id if job.user_id is not None else pipeline.triggered_by_id
    sender = session.get(Account, sender_id) if sender_id is not None else None
    payload = envelope(session, base, ref, sender, {
        "action": job.status,
        "job": job_json(session, base, ref, job, pipeline).model_dump(mode="json"),
        "pipeline": pipeline_json(session, base, ref, pipeline).model_dump(mode="json"),
    })
    return len(queue.enqueue(session, hooks, events.JOB, payload, action=job.status))
