"""Who hears about an activity, and who takes part in its thread from now on.

Handling an activity (community.notifications.fanout):

1. subscribes the people it involves to the thread (``thread_subscription``): the author on opening, whoever
   comments or reviews, the assigned, the mentioned, the reviewers asked for; a row someone unsubscribed by hand
   stays unsubscribed;
2. picks the recipients: the people it names directly (mentioned, assigned, asked for a review), the thread's
   subscribers, and the users watching the repository at "all" (only for new issues and pull requests, comments,
   reviews, closing, reopening, merging; not for a thread the watcher unsubscribed from);
3. drops the actor, anyone whose watch level for the repository is "ignore" (even when mentioned), and anyone who
   cannot read the repository any more (or is blocked or not yet approved).

A comment that mentions people yields two activities (commented, mentioned) in one transaction; the mentioned
get the mention only, so nobody receives two mails for one comment.

These rules are kept apart from the fan-out's queue and transactions so that "who is told" can be read (and
changed) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from community.notifications.models import (
    REASON_ASSIGN,
    REASON_AUTHOR,
    REASON_COMMENT,
    REASON_MENTION,
    REASON_REVIEW_REQUESTED,
    REASON_SUBSCRIBED,
    WATCH_ALL,
    ThreadSubscription,
)
from community.notifications.watches import EMAIL_ALL, EMAIL_NONE, watchers
from forge import activity as act
from forge.accounts.models import Account, AccountKind, EmailAddress
from forge.activity import Activity
from forge.issues.models import Issue
from forge.permissions import Access, repo_access
from forge.repos.services import RepoRef

# People an activity names directly, and why they are told.
DIRECT_REASONS = {
    act.ISSUE_MENTIONED: REASON_MENTION,
    act.ISSUE_ASSIGNED: REASON_ASSIGN,
    act.PULL_REVIEW_REQUESTED: REASON_REVIEW_REQUESTED,
}
# The actor of these takes part in the thread from now on.
ACTOR_REASONS = {
    act.ISSUE_OPENED: REASON_AUTHOR,
    act.PULL_OPENED: REASON_AUTHOR,
    act.ISSUE_COMMENTED: REASON_COMMENT,
    act.PULL_REVIEWED: REASON_COMMENT,
    act.PULL_REVIEW_COMMENTED: REASON_COMMENT,
}
# What the thread's subscribers and the repository's "all" watchers hear about.
THREAD_KINDS = frozenset({
    act.ISSUE_OPENED, act.PULL_OPENED, act.ISSUE_COMMENTED, act.ISSUE_CLOSED, act.ISSUE_REOPENED,
    act.PULL_REVIEWED, act.PULL_REVIEW_COMMENTED, act.PULL_MERGED, act.PULL_READY,
})
# A comment or description and the mention activity it produced are recorded in one transaction: this close.
_SAME_CHANGE = timedelta(seconds=5)


@dataclass
class Recipient:
    """Someone an activity is for, and why (the reason their inbox line and mail show)."""

    user_id: int
    reason: str
    via_watch: bool = False  # only because they watch the repository (not "participating")


def named_user_ids(data: dict[str, Any]) -> list[int]:
    """The user ids an activity names in its data (asked for a review, assigned, mentioned); junk is skipped."""
    out: list[int] = []
    for value in data.get("user_ids") or []:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


# --- subscriptions --------------------------------------------------------------------------------------------


def subscribe(session: Session, user_id: int, issue_id: int, reason: str) -> None:
    """Subscribe a participant to a thread unless they have a row already (subscribed, or unsubscribed by hand)."""
    stmt = select(ThreadSubscription).where(ThreadSubscription.user_id == user_id,
                                            ThreadSubscription.issue_id == issue_id)
    if session.exec(stmt).first() is not None:
        return
    try:
        with session.begin_nested():
            session.add(ThreadSubscription(user_id=user_id, issue_id=issue_id, subscribed=True, reason=reason))
    except IntegrityError:
        pass  # subscribed at the same moment by another worker


def _thread_rows(session: Session, issue_id: int) -> list[ThreadSubscription]:
    stmt = select(ThreadSubscription).where(ThreadSubscription.issue_id == issue_id)
    return list(session.exec(stmt.order_by(col(ThreadSubscription.id))))


def subscribe_participants(session: Session, activity: Activity, issue_id: int) -> None:
    """Subscribe the actor (when the activity makes them a participant) and the people it names to the thread."""
    actor_reason = ACTOR_REASONS.get(activity.kind)
    if actor_reason is not None and activity.actor_id is not None:
        subscribe(session, activity.actor_id, issue_id, actor_reason)
    direct = DIRECT_REASONS.get(activity.kind)
    if direct is not None:
        for uid in named_user_ids(activity.data):
            if uid != activity.actor_id:
                subscribe(session, uid, issue_id, direct)


# --- recipients -----------------------------------------------------------------------------------------------


def _mentioned_with(session: Session, activity: Activity) -> set[int]:
    """Users a sibling mention activity (same comment, or the same description just written) tells instead."""
    stmt = select(Activity).where(Activity.kind == act.ISSUE_MENTIONED, Activity.issue_id == activity.issue_id,
                                  Activity.id != activity.id)
    if activity.comment_id is not None and activity.kind == act.ISSUE_COMMENTED:
        stmt = stmt.where(Activity.comment_id == activity.comment_id)
    elif activity.kind in (act.ISSUE_OPENED, act.PULL_OPENED):
        stmt = stmt.where(col(Activity.comment_id).is_(None),
                          col(Activity.created_at) <= activity.created_at + _SAME_CHANGE,
                          col(Activity.created_at) >= activity.created_at - _SAME_CHANGE)
    else:
        return set()
    ids: set[int] = set()
    for sibling in session.exec(stmt):
        ids.update(named_user_ids(sibling.data))
    return ids


def recipients_of(session: Session, activity: Activity, ref: RepoRef, issue: Issue) -> list[Recipient]:
    """Who hears about ``activity`` (before the actor, "ignore" and access are filtered out)."""
    assert issue.id is not None
    found: dict[int, Recipient] = {}
    direct = DIRECT_REASONS.get(activity.kind)
    if direct is not None:
        for uid in named_user_ids(activity.data):
            found.setdefault(uid, Recipient(uid, direct))
    if activity.kind in THREAD_KINDS:
        instead = _mentioned_with(session, activity)
        unsubscribed: set[int] = set()
        for sub in _thread_rows(session, issue.id):
            if not sub.subscribed:
                unsubscribed.add(sub.user_id)
            elif sub.user_id not in instead:
                found.setdefault(sub.user_id, Recipient(sub.user_id, sub.reason or REASON_SUBSCRIBED))
        # Watching brings every thread, except one the watcher unsubscribed from by hand.
        for uid, level in watchers(session, ref.repo).items():
            if level == WATCH_ALL and uid not in instead and uid not in unsubscribed:
                found.setdefault(uid, Recipient(uid, REASON_SUBSCRIBED, via_watch=True))
    return list(found.values())


def can_receive(session: Session, user: Account | None, ref: RepoRef) -> bool:
    """Whether ``user`` may be told anything about ``ref``: an active, unblocked person who can still read it."""
    if user is None or user.kind != AccountKind.USER or not user.is_active or user.is_blocked:
        return False
    return repo_access(session, user, ref.repo) >= Access.READ


# --- mail ---------------------------------------------------------------------------------------------------


def notification_address(session: Session, user_id: int) -> str:
    """Where a user's notification mail goes: the primary address when verified, else another verified one,
    else the primary address (the forge has no address verification yet, so most addresses are unverified)."""
    rows = list(session.exec(select(EmailAddress).where(EmailAddress.account_id == user_id)
                             .order_by(col(EmailAddress.id))))
    for test in (lambda a: a.is_primary and a.is_verified, lambda a: a.is_verified, lambda a: a.is_primary):
        for row in rows:
            if test(row):
                return row.email
    return ""


def wants_mail(email_pref: str, recipient: Recipient) -> bool:
    """Whether a recipient's e-mail preference asks for mail about this: "participating" leaves out what they hear
    only because they watch the repository."""
    if email_pref == EMAIL_NONE:
        return False
    return email_pref == EMAIL_ALL or not recipient.via_watch
