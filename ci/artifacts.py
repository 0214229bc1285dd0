"""Job artifacts: archives and reports uploaded by runners, their pages and expiry. (Stub: issue 5, helper H3.)"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ci.models import Job


def payload_dependencies(session: Session, job: Job) -> list[dict[str, Any]]:
    """The archives the runner downloads before ``job``'s script (contract: job_id, name, filename, size)."""
    return []


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    return {}
