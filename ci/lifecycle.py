"""Job lifecycle beyond the state machine: automatic retry, redundant pipelines, resource groups, delayed jobs.
(Stub: issue 5, helper H7.)"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ci.models import Job, Pipeline


def on_job_finished(session: Session, job: Job) -> None:
    """Retry a failed job automatically when its ``retry`` allows it."""


def cancel_redundant(session: Session, pipeline: Pipeline) -> None:
    """Cancel older pipelines of the same branch whose started jobs are all interruptible."""


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    return {}
