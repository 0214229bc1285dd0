"""CI/CD variables of repositories and organisations. (Stub: issue 5, helper H5.)"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ci.models import Job, Pipeline


def merge_into(session: Session, job: Job, pipeline: Pipeline, variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's final variable list: ``variables`` (predefined, the file's, the run's) with the repository's and
    organisation's variables merged in by precedence. Later entries win over earlier ones with the same key."""
    return variables
