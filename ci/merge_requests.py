"""Merge request pipelines: pull request activity (opened, new commits, reopened) becomes a pipeline with
``CI_PIPELINE_SOURCE=merge_request_event`` on the pull request's head, each activity row at most once.

(Scaffolding: the CI-for-pull-requests work fills this in.)
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ci.background import periodic
from forge.settings import Settings


def process_pending(engine: Engine, settings: Settings) -> int:
    """Make the pipelines for pull request activity CI has not seen; returns how many events it handled."""
    return 0


@periodic(5)
def sweep(engine: Engine, settings: Settings) -> None:
    process_pending(engine, settings)
