"""Turning activity (forge.activity) into notifications and queued mail.

Every ``activity`` row is handled once, in its own transaction that first inserts its ``notification_seen`` row
(the claim; a second worker blocks on the primary key, then fails and skips it), the pattern ci.triggers uses for
push events. Handling an activity subscribes the people it involves and picks who hears about it (the rules are in
community.notifications.recipients), then updates each recipient's inbox line for the thread (marking it unread)
and queues an e-mail when their preference asks for one and an SMTP host is configured (forge.mail.outbox, in the
same transaction). What the mail says is community.notifications.content.

``process_pending`` runs from the periodic ``sweep`` (every 3 s in every worker) and from ``kick``, which web
handlers call after a request that recorded activity so notifications appear without waiting for the sweep,
on a background thread so the response never waits for it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from community.notifications import mail as notification_mail
from community.notifications.content import Content, content_for
from community.notifications.inbox import thread_url
from community.notifications.models import (
    REASON_SUBSCRIBED,
    WATCH_IGNORE,
    Notification,
    NotificationSeen,
)
from community.notifications.recipients import (
    THREAD_KINDS,
    Recipient,
    can_receive,
    notification_address,
    recipients_of,
    subscribe_participants,
    wants_mail,
)
from community.notifications.watches import EMAIL_NONE, get_preferences, watchers
from forge import activity as act
from forge import outbox as outboxes
from forge.accounts.models import Account
from forge.activity import Activity
from forge.background import periodic
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.issues.models import Issue
from forge.kicker import KickAfterCommit, Kicker
from forge.mail import outbox
from forge.repos.services import RepoRef, get_repo_by_id
from forge.settings import Settings

log = logging.getLogger("forge.notifications")

LOOKBACK = timedelta(days=2)
BATCH = 100


# --- the inbox ------------------------------------------------------------------------------------------------


def _update_line(session: Session, activity: Activity, issue: Issue, recipient: Recipient) -> None:
    assert issue.id is not None
    now = utcnow()
    stmt = select(Notification).where(Notification.user_id == recipient.user_id, Notification.issue_id == issue.id)
    row = session.exec(stmt).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(Notification(
                    user_id=recipient.user_id, repo_id=issue.repo_id, issue_id=issue.id, reason=recipient.reason,
                    last_activity_id=activity.id, last_actor_id=activity.actor_id, unread=True, updated_at=now,
                ))
            return
        except IntegrityError:
            row = session.exec(stmt).first()
            if row is None:
                raise
    # Watching is the weakest reason: a line one takes part in keeps its reason when watchers are told too.
    if not (recipient.via_watch and row.reason != REASON_SUBSCRIBED):
        row.reason = recipient.reason
    row.repo_id = issue.repo_id  # a transferred repository keeps its issues
    row.last_activity_id = activity.id
    row.last_actor_id = activity.actor_id
    row.unread = True
    row.updated_at = now
    session.add(row)


# --- handling one activity ------------------------------------------------------------------------------------


def handle_activity(session: Session, settings: Settings, activity: Activity) -> int:
    """Claim ``activity`` and fan it out; returns how many users were notified. Raises IntegrityError at the claim
    when another worker has it."""
    assert activity.id is not None
    session.add(NotificationSeen(activity_id=activity.id))
    session.flush()  # the claim
    if activity.issue_id is None:
        return 0
    issue = session.get(Issue, activity.issue_id)
    ref = get_repo_by_id(session, activity.repo_id)
    if issue is None or ref is None or issue.id is None:
        return 0
    if activity.kind == act.ISSUE_CLOSED and issue.is_pull and activity.data.get("reason") == "merged":
        return 0  # the pull.merged activity of the same merge tells everyone

    subscribe_participants(session, activity, issue.id)

    levels = watchers(session, ref.repo)
    actor = session.get(Account, activity.actor_id) if activity.actor_id is not None else None
    content = content_for(session, activity, issue, actor)
    url = settings.public_url() + thread_url(ref, issue) + content.anchor
    notified = 0
    for recipient in recipients_of(session, activity, ref, issue):
        if recipient.user_id == activity.actor_id or levels.get(recipient.user_id) == WATCH_IGNORE:
            continue
        user = session.get(Account, recipient.user_id)
        if not can_receive(session, user, ref):
            continue
        _update_line(session, activity, issue, recipient)
        notified += 1
        if wants_mail(get_preferences(session, recipient.user_id).email, recipient):
            _queue_mail(session, settings, activity, ref, issue, content, url, recipient.user_id, recipient.reason)
    _own_activity_mail(session, settings, activity, ref, issue, content, url, actor, levels)
    return notified


def _own_activity_mail(session: Session, settings: Settings, activity: Activity, ref: RepoRef, issue: Issue,
                       content: Content, url: str, actor: Account | None, levels: dict[int, str]) -> None:
    """Mail the actors who asked for mail about their own activity (never an inbox line)."""
    if actor is None or actor.id is None or activity.kind not in THREAD_KINDS:
        return
    prefs = get_preferences(session, actor.id)
    if not prefs.own_activity or prefs.email == EMAIL_NONE or levels.get(actor.id) == WATCH_IGNORE:
        return
    if can_receive(session, actor, ref):
        _queue_mail(session, settings, activity, ref, issue, content, url, actor.id, "own")


def _queue_mail(session: Session, settings: Settings, activity: Activity, ref: RepoRef, issue: Issue,
                content: Content, url: str, user_id: int, reason: str) -> None:
    if not outbox.mail_enabled(settings):
        return
    address = notification_address(session, user_id)
    if not address:
        return
    assert activity.id is not None
    mail = notification_mail.compose(
        ref=ref, issue=issue, base_url=settings.public_url(), domain=outbox.mail_domain(settings),
        headline=content.headline, body=content.body, url=url, reason=reason, activity_id=activity.id,
        is_first=activity.kind in (act.ISSUE_OPENED, act.PULL_OPENED),
    )
    outbox.enqueue(session, settings, to=address, subject=mail.subject, text=mail.text, html=mail.html,
                   message_id=mail.message_id, in_reply_to=mail.in_reply_to)


# --- the queue ------------------------------------------------------------------------------------------------


def _unseen(engine: Engine, limit: int) -> list[int]:
    with session_scope(engine) as session:
        seen = select(NotificationSeen.activity_id).where(NotificationSeen.activity_id == Activity.id)
        stmt = (select(Activity.id).where(col(Activity.created_at) >= utcnow() - LOOKBACK, ~seen.exists())
                .order_by(col(Activity.id)).limit(limit))
        return [i for i in session.exec(stmt) if i is not None]


def _load(session: Session, activity_id: int) -> Activity | None:
    row = session.get(Activity, activity_id)
    return None if row is None or session.get(NotificationSeen, activity_id) is not None else row


def process_pending(engine: Engine, settings: Settings, limit: int = BATCH) -> int:
    """Fan out up to ``limit`` activities not handled yet, oldest first; returns how many this call handled."""
    return outboxes.consume(
        engine, _unseen(engine, limit), load=_load, handle=lambda s, row: handle_activity(s, settings, row),
        mark_failed=lambda s, activity_id: s.add(NotificationSeen(activity_id=activity_id)),
        log=log, what="activity (notifications)",
    )


@periodic(3)
def sweep(engine: Engine, settings: Settings) -> None:
    """Fan out the activity not seen yet."""
    process_pending(engine, settings)


# --- kick: right after a request, and after every commit that recorded activity -------------------------------


def _fan_out_and_send(engine: Engine, settings: Settings) -> None:
    process_pending(engine, settings)
    outbox.deliver_due(engine, settings)


# Fan out pending activity and send due mail on a background thread, now (the request that recorded the activity
# does not wait); kicks that arrive while one runs make it run once more rather than start threads.
_kicker = Kicker("forge-notify-kick", _fan_out_and_send, log)
_after_commit = KickAfterCommit(_kicker, (Activity,))
kick = _kicker.kick


def install_kick_after_commit(engine: Engine, settings: Settings) -> None:
    """Make every transaction on ``engine`` that records an ``activity`` row ``kick`` the fan-out once it has
    committed, so no handler has to remember to. (The application calls this once at start-up.)"""
    _after_commit.install(engine, settings)


def uninstall_kick_after_commit(engine: Engine) -> None:
    _after_commit.uninstall(engine)
