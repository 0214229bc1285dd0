"""Turning push events and activity into webhook deliveries (the webhook consumer of both outboxes).

Each ``push_event`` and ``activity`` row is handled once, in its own transaction that first inserts its
``webhook_push_seen`` / ``webhook_activity_seen`` row (the claim: a second worker blocks on the primary key, then
fails and skips it), the pattern forge.push_processing and the notification fan-out use, through
forge.outbox.consume. Handling a row asks forge.webhooks.queue which hooks want its events and builds payloads only
for those, so a forge without hooks pays one indexed query per row.

``process_pending`` runs from the periodic ``sweep`` (every 2 s in every worker) and from ``kick``, which runs on
a background thread right after a transaction that recorded a push or activity commits (installed by the
application with ``install_kick_after_commit``), so deliveries go out without waiting for the sweep.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from forge import outbox
from forge.activity import Activity
from forge.background import periodic
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.issues.models import Issue
from forge.kicker import KickAfterCommit, Kicker
from forge.repos.models import PushEvent
from forge.repos.services import get_repo_by_id
from forge.settings import Settings
from forge.webhooks import payloads_git, payloads_issues, repo_events
from forge.webhooks.models import WebhookActivitySeen, WebhookPushSeen

log = logging.getLogger("forge.webhooks")

LOOKBACK = timedelta(days=2)
BATCH = 100


# --- handling one row -----------------------------------------------------------------------------------------


def handle_push(session: Session, settings: Settings, push: PushEvent) -> int:
    """Claim ``push`` and queue its push/create/delete deliveries; returns how many. Raises IntegrityError at the
    claim when another worker has it."""
    assert push.id is not None
    session.add(WebhookPushSeen(push_event_id=push.id))
    session.flush()  # the claim
    ref = get_repo_by_id(session, push.repo_id)
    if ref is None:
        return 0
    return payloads_git.handle_push(session, settings.public_url(), settings.repos_dir, ref, push)


def handle_activity(session: Session, settings: Settings, activity: Activity) -> int:
    """Claim ``activity`` and queue its deliveries; returns how many."""
    assert activity.id is not None
    session.add(WebhookActivitySeen(activity_id=activity.id))
    session.flush()  # the claim
    if activity.issue_id is None:
        return 0
    ref = get_repo_by_id(session, activity.repo_id)
    issue = session.get(Issue, activity.issue_id)
    if ref is None or issue is None:
        return 0
    return payloads_issues.handle_activity(session, settings.public_url(), settings.repos_dir, ref, issue,
                                           activity)


# --- the queues -----------------------------------------------------------------------------------------------


def _unseen_pushes(engine: Engine, limit: int) -> list[int]:
    with session_scope(engine) as session:
        seen = select(WebhookPushSeen.push_event_id).where(WebhookPushSeen.push_event_id == PushEvent.id)
        stmt = (select(PushEvent.id).where(col(PushEvent.created_at) >= utcnow() - LOOKBACK, ~seen.exists())
                .order_by(col(PushEvent.id)).limit(limit))
        return [i for i in session.exec(stmt) if i is not None]


def _unseen_activity(engine: Engine, limit: int) -> list[int]:
    with session_scope(engine) as session:
        seen = select(WebhookActivitySeen.activity_id).where(WebhookActivitySeen.activity_id == Activity.id)
        stmt = (select(Activity.id).where(col(Activity.created_at) >= utcnow() - LOOKBACK, ~seen.exists())
                .order_by(col(Activity.id)).limit(limit))
        return [i for i in session.exec(stmt) if i is not None]


def _load_push(session: Session, push_id: int) -> PushEvent | None:
    row = session.get(PushEvent, push_id)
    return None if row is None or session.get(WebhookPushSeen, push_id) is not None else row


def _load_activity(session: Session, activity_id: int) -> Activity | None:
    row = session.get(Activity, activity_id)
    return None if row is None or session.get(WebhookActivitySeen, activity_id) is not None else row


def process_pending(engine: Engine, settings: Settings, limit: int = BATCH) -> int:
    """Turn up to ``limit`` unseen push events and as many activity rows into deliveries, oldest first; returns
    how many rows this call handled."""
    handled = outbox.consume(
        engine, _unseen_pushes(engine, limit), load=_load_push,
        handle=lambda s, row: handle_push(s, settings, row),
        mark_failed=lambda s, push_id: s.add(WebhookPushSeen(push_event_id=push_id)),
        log=log, what="push event (webhooks)",
    )
    return handled + outbox.consume(
        engine, _unseen_activity(engine, limit), load=_load_activity,
        handle=lambda s, row: handle_activity(s, settings, row),
        mark_failed=lambda s, activity_id: s.add(WebhookActivitySeen(activity_id=activity_id)),
        log=log, what="activity (webhooks)",
    )


@periodic(2)
def sweep(engine: Engine, settings: Settings) -> None:
    """Turn the push events and activity not seen yet into deliveries."""
    repo_events.install(engine, settings)  # in case the application did not (a worker without the web app)
    process_pending(engine, settings)


# --- kick: right after a commit that recorded a push or activity ----------------------------------------------

_kicker = Kicker("webhook fan-out", process_pending, log)
_after_commit = KickAfterCommit(_kicker, (PushEvent, Activity))
kick = _kicker.kick


def install_kick_after_commit(engine: Engine, settings: Settings) -> None:
    """Make every transaction on ``engine`` that records a push event or activity ``kick`` the fan-out once it
    has committed, and let repository events (forge.webhooks.repo_events) find the public URL. The application
    calls this once at start-up."""
    repo_events.install(engine, settings)
    _after_commit.install(engine, settings)


def uninstall_kick_after_commit(engine: Engine) -> None:
    _after_commit.uninstall(engine)
    repo_events.uninstall(engine)
