"""A user's notification inbox: one line per issue or pull request, unread until opened or marked read.

Lines are only shown for repositories the user can still read (access may have been taken away after the line
was made); hidden lines are not deleted, so they come back if access does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, func, select

from community.notifications.models import (
    REASON_SUBSCRIBED,
    Notification,
    ThreadSubscription,
)
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import AuthenticationRequired, NotFound
from forge.i18n import N_
from forge.issues.models import Issue
from forge.permissions import Access, repo_access, require_repo_access
from forge.repos.models import Repository
from forge.repos.services import RepoRef, get_repo_by_id

FILTER_UNREAD = "unread"
FILTER_ALL = "all"
FILTER_PARTICIPATING = "participating"
FILTERS = (FILTER_UNREAD, FILTER_ALL, FILTER_PARTICIPATING)
PAGE_SIZE = 50


def unread_count(session: Session, user_id: int) -> int:
    """Unread lines (the number in the top bar). One indexed count; it may include a line of a repository the
    user can no longer read, which the inbox then hides and a "mark all as read" clears."""
    stmt = select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, col(Notification.unread).is_(True))
    return int(session.exec(stmt).one())


def thread_url(ref: RepoRef, issue: Issue) -> str:
    kind = "pulls" if issue.is_pull else "issues"
    return f"/{ref.owner.name}/{ref.repo.name}/{kind}/{issue.number}"


@dataclass
class Line:
    notification: Notification
    issue: Issue
    actor: Account | None
    url: str


@dataclass
class Group:
    ref: RepoRef
    lines: list[Line] = field(default_factory=list)

    @property
    def unread(self) -> int:
        return sum(1 for line in self.lines if line.notification.unread)


@dataclass
class Inbox:
    groups: list[Group]
    page: int
    has_next: bool
    total_unread: int


def _require(user: Account | None) -> Account:
    if user is None:
        raise AuthenticationRequired(N_("Sign in to see your notifications."))
    return user


def list_inbox(session: Session, user: Account | None, *, filter: str = FILTER_UNREAD, page: int = 1,
               repo_id: int | None = None, per_page: int = PAGE_SIZE) -> Inbox:
    """The user's lines, newest activity first, grouped by repository (groups in the order of their newest
    line). ``participating`` leaves out lines that only come from watching a repository."""
    user = _require(user)
    page = max(1, page)
    stmt = select(Notification).where(Notification.user_id == user.id)
    if filter == FILTER_UNREAD:
        stmt = stmt.where(col(Notification.unread).is_(True))
    elif filter == FILTER_PARTICIPATING:
        stmt = stmt.where(Notification.reason != REASON_SUBSCRIBED)
    if repo_id is not None:
        stmt = stmt.where(Notification.repo_id == repo_id)
    stmt = stmt.order_by(col(Notification.updated_at).desc(), col(Notification.id).desc())
    rows = list(session.exec(stmt.offset((page - 1) * per_page).limit(per_page + 1)))
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    groups: dict[int, Group] = {}
    readable: dict[int, RepoRef | None] = {}
    for row in rows:
        if row.repo_id not in readable:
            ref = get_repo_by_id(session, row.repo_id)
            ok = ref is not None and repo_access(session, user, ref.repo) >= Access.READ
            readable[row.repo_id] = ref if ok else None
        ref = readable[row.repo_id]
        issue = session.get(Issue, row.issue_id)
        if ref is None or issue is None:
            continue
        actor = session.get(Account, row.last_actor_id) if row.last_actor_id is not None else None
        group = groups.setdefault(row.repo_id, Group(ref))
        group.lines.append(Line(row, issue, actor, thread_url(ref, issue)))
    return Inbox(list(groups.values()), page, has_next, unread_count(session, user.id or 0))


def _own(session: Session, user: Account, notification_id: int) -> Notification:
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound(N_("Notification not found."))
    return row


def _mark(row: Notification, unread: bool, now: datetime) -> None:
    row.unread = unread
    if not unread:
        row.last_read_at = now


def mark_read(session: Session, user: Account | None, notification_id: int, *, unread: bool = False) -> None:
    user = _require(user)
    row = _own(session, user, notification_id)
    _mark(row, unread, utcnow())
    session.add(row)


def open_notification(session: Session, user: Account | None, notification_id: int) -> str:
    """Mark the line read and return the URL of its thread (NotFound when the user may no longer see it)."""
    user = _require(user)
    row = _own(session, user, notification_id)
    ref = get_repo_by_id(session, row.repo_id)
    issue = session.get(Issue, row.issue_id)
    if ref is None or issue is None:
        raise NotFound(N_("Notification not found."))
    require_repo_access(session, user, ref.repo, Access.READ)
    _mark(row, False, utcnow())
    session.add(row)
    return thread_url(ref, issue)


def mark_repo_read(session: Session, user: Account | None, repo_id: int) -> int:
    user = _require(user)
    return _mark_where(session, user, col(Notification.repo_id) == repo_id)


def mark_all_read(session: Session, user: Account | None) -> int:
    user = _require(user)
    return _mark_where(session, user)


def _mark_where(session: Session, user: Account, *conditions: ColumnElement[bool]) -> int:
    stmt = (update(Notification)
            .where(col(Notification.user_id) == user.id, col(Notification.unread).is_(True), *conditions)
            .values(unread=False, last_read_at=utcnow()))
    result = session.exec(stmt)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def mark_thread_read(session: Session, user_id: int, issue_id: int) -> bool:
    """Mark the user's line for an issue read (for the issue and pull request pages, when the user views one)."""
    stmt = (update(Notification)
            .where(col(Notification.user_id) == user_id, col(Notification.issue_id) == issue_id,
                   col(Notification.unread).is_(True))
            .values(unread=False, last_read_at=utcnow()))
    result = session.exec(stmt)  # type: ignore[call-overload]
    return bool(result.rowcount)


# --- thread subscriptions -------------------------------------------------------------------------------------


def subscription(session: Session, user_id: int, issue_id: int) -> ThreadSubscription | None:
    stmt = select(ThreadSubscription).where(ThreadSubscription.user_id == user_id,
                                            ThreadSubscription.issue_id == issue_id)
    return session.exec(stmt).first()


def is_subscribed(session: Session, user_id: int, issue_id: int) -> bool:
    row = subscription(session, user_id, issue_id)
    return row is not None and row.subscribed


def set_subscribed(session: Session, user: Account | None, issue_id: int, subscribed: bool) -> Issue:
    """Subscribe to or unsubscribe from an issue or pull request by hand (needs READ access to it). Unsubscribing
    keeps the row (``subscribed`` False) so taking part again later does not subscribe one again."""
    user = _require(user)
    issue = session.get(Issue, issue_id)
    repo = session.get(Repository, issue.repo_id) if issue is not None else None
    if issue is None or repo is None or repo_access(session, user, repo) < Access.READ:
        raise NotFound(N_("Issue not found."))
    assert user.id is not None
    row = subscription(session, user.id, issue_id)
    if row is None:
        row = ThreadSubscription(user_id=user.id, issue_id=issue_id, subscribed=subscribed,
                                 reason=REASON_SUBSCRIBED)
    else:
        row.subscribed = subscribed
        if subscribed:
            row.reason = REASON_SUBSCRIBED if row.reason == "" else row.reason
    session.add(row)
    if not subscribed:
        mark_thread_read(session, user.id, issue_id)
    session.flush()
    return issue
