"""Test reports (JUnit) and coverage of jobs and pipelines. (Stub: issue 5, helper H4.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from ci.models import Job, Pipeline


def on_job_finished(session: Session, job: Job) -> None:
    """Parse the job's uploaded JUnit reports and extract its coverage."""


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    return {}


def pipeline_facts(session: Session, pipeline: Pipeline) -> dict[str, Any]:
    return {}


def list_facts(session: Session, pipelines: Sequence[Pipeline]) -> dict[str, Any]:
    return {}
