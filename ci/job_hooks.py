"""What CI features do when a runner takes a job or a job ends, called by the dispatcher (``ci.dispatch``).

Both run inside the transaction that changes the job, so what they record (a deployment, test results, an
automatic retry) commits or rolls back with the job's own state. ``job_finished`` runs before the state machine
advances the pipeline, so an automatic retry is in place before the pipeline's status is computed.
"""

from __future__ import annotations

from sqlmodel import Session

from ci import environments, lifecycle, test_reports, webhook_events
from ci.models import Job


def job_started(session: Session, job: Job) -> None:
    """A runner has just claimed ``job`` (it is ``running``)."""
    environments.on_job_started(session, job)
    webhook_events.job_changed(session, job)


def job_finished(session: Session, job: Job) -> None:
    """``job`` has just reached a final state (success, failed, canceled) while running."""
    test_reports.on_job_finished(session, job)
    environments.on_job_finished(session, job)
    lifecycle.on_job_finished(session, job)
    webhook_events.job_changed(session, job)
