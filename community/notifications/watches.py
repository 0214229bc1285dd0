"""Watching repositories and each user's notification preferences.

A user without a ``watch`` row for a repository watches it at "participating" (threads they take part in, and
@mentions), except the repository's owner: a user who owns a repository and has not chosen a level watches it at
"all" (as if creating the repository had made them watch it), unless their preference ``auto_watch_own_repos`` is
off. This default is computed when needed rather than stored, so repository creation needs no hook and changing
the preference takes effect at once for repositories whose level the owner never chose.
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from community.notifications.models import (
    WATCH_ALL,
    WATCH_IGNORE,
    WATCH_PARTICIPATING,
    NotificationSettings,
    Watch,
)
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import AuthenticationRequired, InvalidInput
from forge.i18n import N_
from forge.permissions import Access, repo_access, require_repo_access
from forge.repos.models import Repository
from forge.repos.services import RepoRef, get_repo_by_id

LEVELS = (WATCH_ALL, WATCH_PARTICIPATING, WATCH_IGNORE)
EMAIL_ALL = "all"
EMAIL_PARTICIPATING = "participating"
EMAIL_NONE = "none"
EMAIL_LEVELS = (EMAIL_ALL, EMAIL_PARTICIPATING, EMAIL_NONE)


# --- preferences ----------------------------------------------------------------------------------------------


def get_preferences(session: Session, user_id: int) -> NotificationSettings:
    """The user's preferences (unsaved defaults when they never saved any)."""
    prefs = session.get(NotificationSettings, user_id)
    return prefs if prefs is not None else NotificationSettings(user_id=user_id)


def save_preferences(session: Session, actor: Account, *, email: str, own_activity: bool,
                     auto_watch_own_repos: bool) -> NotificationSettings:
    if email not in EMAIL_LEVELS:
        raise InvalidInput(N_("Choose when to receive email: all, participating or none."))
    assert actor.id is not None
    prefs = session.get(NotificationSettings, actor.id) or NotificationSettings(user_id=actor.id)
    prefs.email = email
    prefs.own_activity = own_activity
    prefs.auto_watch_own_repos = auto_watch_own_repos
    session.add(prefs)
    session.flush()
    return prefs


# --- watching -------------------------------------------------------------------------------------------------


def watch_level(session: Session, user_id: int, repo_id: int) -> str | None:
    """The level the user chose for the repository, None when they never chose one."""
    row = session.exec(select(Watch).where(Watch.user_id == user_id, Watch.repo_id == repo_id)).first()
    return row.level if row is not None else None


def _owner_default(session: Session, user_id: int, repo: Repository) -> str:
    if repo.owner_id == user_id and get_preferences(session, user_id).auto_watch_own_repos:
        return WATCH_ALL
    return WATCH_PARTICIPATING


def effective_level(session: Session, user_id: int, repo: Repository) -> str:
    """What the user gets from the repository: their chosen level, else the default (see the module text)."""
    assert repo.id is not None
    return watch_level(session, user_id, repo.id) or _owner_default(session, user_id, repo)


def set_watch(session: Session, actor: Account | None, ref: RepoRef, level: str) -> Watch:
    """Choose how much of the repository's activity ``actor`` hears about (needs READ access)."""
    if actor is None:
        raise AuthenticationRequired(N_("Sign in to watch repositories."))
    require_repo_access(session, actor, ref.repo, Access.READ)
    if level not in LEVELS:
        raise InvalidInput(N_("Unknown watch level."))
    assert actor.id is not None and ref.repo.id is not None
    row = session.exec(select(Watch).where(Watch.user_id == actor.id, Watch.repo_id == ref.repo.id)).first()
    if row is None:
        row = Watch(user_id=actor.id, repo_id=ref.repo.id, level=level, created_at=utcnow())
    else:
        row.level = level
    session.add(row)
    session.flush()
    return row


def watchers(session: Session, repo: Repository) -> dict[int, str]:
    """Every user with a level other than the plain default for the repository: user id -> level (the owner's
    implicit "all" included)."""
    levels = {w.user_id: w.level for w in session.exec(select(Watch).where(Watch.repo_id == repo.id))}
    owner = session.get(Account, repo.owner_id)
    if owner is not None and not owner.is_org and owner.id is not None and owner.id not in levels:
        levels[owner.id] = _owner_default(session, owner.id, repo)
    return levels


def watcher_count(session: Session, repo: Repository) -> int:
    """How many users watch the repository at "all" (shown next to the Watch button)."""
    stmt = select(func.count()).select_from(Watch).where(Watch.repo_id == repo.id, Watch.level == WATCH_ALL)
    count = int(session.exec(stmt).one())
    owner = session.get(Account, repo.owner_id)
    if (owner is not None and not owner.is_org and owner.id is not None
            and watch_level(session, owner.id, repo.id or 0) is None
            and _owner_default(session, owner.id, repo) == WATCH_ALL):
        count += 1
    return count


def chosen_levels(session: Session, user: Account) -> list[tuple[RepoRef, str]]:
    """The repositories the user chose a level for (and can still read), by name."""
    out: list[tuple[RepoRef, str]] = []
    for row in session.exec(select(Watch).where(Watch.user_id == user.id).order_by(col(Watch.id))):
        ref = get_repo_by_id(session, row.repo_id)
        if ref is not None and repo_access(session, user, ref.repo) >= Access.READ:
            out.append((ref, row.level))
    return sorted(out, key=lambda item: item[0].full_name.lower())
