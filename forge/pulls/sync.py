"""Keeping pull requests in step with pushes: a push to a head branch copies it to ``refs/pull/<n>/head``, records
"synchronized" activity, dismisses stale approvals and marks moved review comments outdated; a push to either side
makes mergeability be computed again. Run once per push event by forge.push_processing.

(Scaffolding: the pull request work fills this in.)
"""

from __future__ import annotations

from sqlmodel import Session

from forge.repos.models import PushEvent
from forge.settings import Settings


def handle_push(session: Session, settings: Settings, event: PushEvent) -> None:
    """Update the pull requests whose head or base ``event`` moved."""
