"""Commits that mention issues: a "referenced this issue" timeline entry for each, and on the default branch
"closes #N" (and the other closing keywords) closes the issue. Run once per push event by forge.push_processing.

(Scaffolding: the issues work fills this in.)
"""

from __future__ import annotations

from sqlmodel import Session

from forge.repos.models import PushEvent
from forge.settings import Settings


def handle_push(session: Session, settings: Settings, event: PushEvent) -> None:
    """Apply the references in the commits ``event`` added to its branch."""
