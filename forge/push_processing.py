"""The core's handling of accepted pushes: pull request heads and mergeability, commit references to issues and
"closes #N" on the default branch.

Every push event (forge.repos.models.PushEvent) is handled once, in its own transaction that first inserts its
``push_handled`` row (the claim; a second worker blocks on the primary key and then fails). The git HTTP handler
calls ``process_pending`` right after a push; the periodic ``sweep`` catches anything missed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from forge import outbox
from forge.background import periodic
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.issues import commit_refs
from forge.pulls import sync
from forge.repos.models import PushEvent, PushHandled
from forge.settings import Settings

log = logging.getLogger("forge.pushes")

LOOKBACK = timedelta(days=2)
BATCH = 50


def handle_event(session: Session, settings: Settings, event: PushEvent) -> None:
    assert event.id is not None
    session.add(PushHandled(push_event_id=event.id))
    session.flush()  # the claim
    # Pull requests first: closing references of a merged pull request's commits are its own business.
    sync.handle_push(session, settings, event)
    commit_refs.handle_push(session, settings, event)


def _unhandled(engine: Engine, limit: int) -> list[int]:
    with session_scope(engine) as session:
        done = select(PushHandled.push_event_id).where(PushHandled.push_event_id == PushEvent.id)
        stmt = (select(PushEvent.id).where(col(PushEvent.created_at) >= utcnow() - LOOKBACK, ~done.exists())
                .order_by(col(PushEvent.id)).limit(limit))
        return [i for i in session.exec(stmt) if i is not None]


def _load(session: Session, event_id: int) -> PushEvent | None:
    event = session.get(PushEvent, event_id)
    return None if event is None or session.get(PushHandled, event_id) is not None else event


def process_pending(engine: Engine, settings: Settings, limit: int = BATCH) -> int:
    """Handle up to ``limit`` unhandled push events, oldest first; returns how many this call handled."""
    return outbox.consume(
        engine, _unhandled(engine, limit), load=_load, handle=lambda s, event: handle_event(s, settings, event),
        mark_failed=lambda s, event_id: s.add(PushHandled(push_event_id=event_id)),
        log=log, what="push event",
    )


@periodic(3)
def sweep(engine: Engine, settings: Settings) -> None:
    process_pending(engine, settings)
