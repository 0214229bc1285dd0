"""Environments and deployments. (Stub: issue 5, helper H8.)"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ci.models import Job


def on_job_started(session: Session, job: Job) -> None:
    """Record the deployment of a job that deploys to an environment."""


def on_job_finished(session: Session, job: Job) -> None:
    """Finish the job's deployment (and stop its environment for ``action: stop``)."""


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    return {}
