"""The inbox as a flat list of threads with a total, filtered by time (the API's ``/notifications``).

The web inbox (inbox.py) groups lines by repository and pages with "next" only; API clients want GitHub's flat
list, ``since``/``before`` and a total for the ``Link`` header. Lines of repositories the user can no longer read
are left out inside the query (services.visible_repos_filter, the rule repo_access applies), so the total never
counts them, as the web inbox never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select

from community.notifications.inbox import _mark_where
from community.notifications.models import REASON_SUBSCRIBED, Notification
from forge.accounts.models import Account
from forge.errors import NotFound
from forge.i18n import N_
from forge.issues.models import Issue
from forge.repos.models import Repository
from forge.repos.services import RepoRef, visible_repos_filter


@dataclass(frozen=True)
class Thread:
    notification: Notification
    issue: Issue
    ref: RepoRef


def _visible(session: Session, user: Account) -> ColumnElement[bool]:
    return col(Notification.repo_id).in_(select(Repository.id).where(visible_repos_filter(session, user)))


def list_threads(session: Session, user: Account, *, include_read: bool = False, participating: bool = False,
                 since: datetime | None = None, before: datetime | None = None, repo_id: int | None = None,
                 offset: int = 0, limit: int = 30) -> tuple[list[Thread], int]:
    """One page of the user's lines, newest activity first, and how many there are. Unread only unless
    ``include_read``; ``participating`` leaves out lines that only come from watching the repository; ``since``
    and ``before`` bound the last activity (inclusive and exclusive, as on GitHub)."""
    where: list[ColumnElement[bool]] = [col(Notification.user_id) == user.id, _visible(session, user)]
    if not include_read:
        where.append(col(Notification.unread).is_(True))
    if participating:
        where.append(col(Notification.reason) != REASON_SUBSCRIBED)
    if since is not None:
        where.append(col(Notification.updated_at) >= since)
    if before is not None:
        where.append(col(Notification.updated_at) < before)
    if repo_id is not None:
        where.append(col(Notification.repo_id) == repo_id)
    total = session.exec(select(func.count()).select_from(Notification).where(*where)).one()
    stmt = (select(Notification, Issue, Repository, Account)
            .join(Issue, col(Issue.id) == Notification.issue_id)
            .join(Repository, col(Repository.id) == Notification.repo_id)
            .join(Account, col(Account.id) == Repository.owner_id)
            .where(*where)
            .order_by(col(Notification.updated_at).desc(), col(Notification.id).desc())
            .offset(offset).limit(limit))
    rows = [Thread(n, issue, RepoRef(repo, owner)) for n, issue, repo, owner in session.exec(stmt)]
    return rows, int(total)


def get_thread(session: Session, user: Account, notification_id: int) -> Thread:
    """One of the user's lines (NotFound for anyone else's, or when the user may no longer read the repository)."""
    stmt = (select(Notification, Issue, Repository, Account)
            .join(Issue, col(Issue.id) == Notification.issue_id)
            .join(Repository, col(Repository.id) == Notification.repo_id)
            .join(Account, col(Account.id) == Repository.owner_id)
            .where(col(Notification.id) == notification_id, col(Notification.user_id) == user.id,
                   _visible(session, user)))
    row = session.exec(stmt).first()
    if row is None:
        raise NotFound(N_("Notification not found."))
    n, issue, repo, owner = row
    return Thread(n, issue, RepoRef(repo, owner))


def mark_read_until(session: Session, user: Account, last_read_at: datetime | None = None, *,
                    repo_id: int | None = None) -> int:
    """Mark read the user's unread lines (of one repository when ``repo_id``) whose last activity is not after
    ``last_read_at`` (all of them when None): activity the client has not seen yet stays unread."""
    conditions: list[ColumnElement[bool]] = []
    if last_read_at is not None:
        conditions.append(col(Notification.updated_at) <= last_read_at)
    if repo_id is not None:
        conditions.append(col(Notification.repo_id) == repo_id)
    return _mark_where(session, user, *conditions)
