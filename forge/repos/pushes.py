"""Recording accepted ref updates as push events (the durable outbox that CI, webhooks and feeds consume)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from forge.db.models_base import utcnow
from forge.repos.models import PushEvent, Repository


@dataclass(frozen=True)
class RefUpdate:
    old_sha: str
    new_sha: str
    ref: str


def parse_updates(text: str) -> list[RefUpdate]:
    """Parse the ``<old> <new> <ref>`` lines git gives the pre- and post-receive hooks."""
    updates = []
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            updates.append(RefUpdate(parts[0], parts[1], parts[2]))
    return updates


def record_push(
    session: Session, repo: Repository, pusher_id: int | None, updates: list[RefUpdate], *, source: str = "push"
) -> list[PushEvent]:
    assert repo.id is not None
    now = utcnow()
    events = [
        PushEvent(
            repo_id=repo.id,
            pusher_id=pusher_id,
            ref=u.ref,
            old_sha=u.old_sha,
            new_sha=u.new_sha,
            source=source,
            created_at=now,
        )
        for u in updates
    ]
    for event in events:
        session.add(event)
    repo.pushed_at = now
    repo.updated_at = now
    session.add(repo)
    session.flush()
    return events


def recent_events(session: Session, repo: Repository, limit: int = 20) -> list[PushEvent]:
    stmt = select(PushEvent).where(PushEvent.repo_id == repo.id).order_by(col(PushEvent.id).desc()).limit(limit)
    return list(session.exec(stmt))
