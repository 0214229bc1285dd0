"""Site administration: services only site administrators may call.

Every public function here checks that ``actor`` is a site administrator itself, so a caller that forgets the
web layer's check still cannot act. The multi-step operations (deleting a user or an organisation) keep their
database work ahead of the disk work: the checks that may refuse run first, and repository directories are
removed only once nothing else can fail.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from forge import site
from forge.accounts import users
from forge.accounts.models import (
    AccessToken,
    Account,
    AccountKind,
    EmailAddress,
    OrgMember,
    Team,
    TeamMember,
    TeamRepo,
    WebSession,
)
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.repos import services as repos
from forge.repos.models import Collaborator, PushEvent, Repository
from forge.settings import Settings

USER_FILTERS = ("all", "admin", "blocked", "pending")
PAGE_SIZE = 50


def require_site_admin(actor: Account | None) -> Account:
    if actor is None or not actor.is_admin or actor.is_blocked or not actor.is_active:
        raise PermissionDenied(N_("Only site administrators can do this."))
    return actor


# --- overview -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteCounts:
    users: int
    orgs: int
    repos: int
    private_repos: int
    admins: int
    blocked: int
    pending: int


def _count_accounts(session: Session, *conditions: object) -> int:
    stmt = select(func.count()).select_from(Account)
    for cond in conditions:
        stmt = stmt.where(cond)  # type: ignore[arg-type]
    return session.exec(stmt).one()


def site_counts(session: Session, actor: Account) -> SiteCounts:
    require_site_admin(actor)
    is_user = Account.kind == AccountKind.USER
    return SiteCounts(
        users=_count_accounts(session, is_user),
        orgs=_count_accounts(session, Account.kind == AccountKind.ORG),
        repos=repos.count_repos(session),
        private_repos=session.exec(
            select(func.count()).select_from(Repository).where(Repository.is_private == True)  # noqa: E712
        ).one(),
        admins=_count_accounts(session, is_user, Account.is_admin == True),  # noqa: E712
        blocked=_count_accounts(session, is_user, Account.is_blocked == True),  # noqa: E712
        pending=_count_accounts(session, is_user, Account.is_active == False),  # noqa: E712
    )


# --- listings -----------------------------------------------------------------------------------------------


def list_users(
    session: Session, actor: Account, *, query: str = "", flag: str = "all", page: int = 1
) -> tuple[list[Account], bool]:
    """One page of users matching ``query`` (name, display name or email) and ``flag``; also whether more
    pages follow."""
    require_site_admin(actor)
    stmt = select(Account).where(Account.kind == AccountKind.USER)
    if query:
        q = query.lower()
        by_email = select(EmailAddress.account_id).where(col(EmailAddress.lower_email).contains(q))
        stmt = stmt.where(
            col(Account.lower_name).contains(q)
            | func.lower(col(Account.display_name)).contains(q)
            | col(Account.id).in_(by_email)
        )
    if flag == "admin":
        stmt = stmt.where(Account.is_admin == True)  # noqa: E712
    elif flag == "blocked":
        stmt = stmt.where(Account.is_blocked == True)  # noqa: E712
    elif flag == "pending":
        stmt = stmt.where(Account.is_active == False)  # noqa: E712
    return _page(session, stmt.order_by(col(Account.lower_name)), page)


def list_orgs(
    session: Session, actor: Account, *, query: str = "", page: int = 1
) -> tuple[list[Account], bool]:
    require_site_admin(actor)
    stmt = select(Account).where(Account.kind == AccountKind.ORG)
    if query:
        stmt = stmt.where(col(Account.lower_name).contains(query.lower()))
    return _page(session, stmt.order_by(col(Account.lower_name)), page)


def _page(session: Session, stmt, page: int) -> tuple[list[Account], bool]:  # type: ignore[no-untyped-def]
    # Fetch one row more than a page to know whether a next page exists without a second COUNT query.
    page = max(page, 1)
    rows = list(session.exec(stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def list_all_repos(
    session: Session, actor: Account, *, query: str = "", page: int = 1
) -> tuple[list[repos.RepoRef], bool]:
    """Every repository, private ones included, with its owner."""
    require_site_admin(actor)
    stmt = select(Repository, Account).join(Account, col(Account.id) == Repository.owner_id)
    if query:
        q = query.lower()
        stmt = stmt.where(col(Repository.lower_name).contains(q) | col(Account.lower_name).contains(q))
    stmt = stmt.order_by(col(Account.lower_name), col(Repository.lower_name))
    page = max(page, 1)
    found = session.exec(stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
    rows = [repos.RepoRef(r, o) for r, o in found]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def memberships_of(session: Session, user: Account) -> list[tuple[OrgMember, Account]]:
    stmt = (
        select(OrgMember, Account)
        .join(Account, col(Account.id) == OrgMember.org_id)
        .where(OrgMember.user_id == user.id)
        .order_by(col(Account.lower_name))
    )
    return [(m, o) for m, o in session.exec(stmt)]


def owned_repos(session: Session, owner: Account) -> list[repos.RepoRef]:
    stmt = select(Repository).where(Repository.owner_id == owner.id).order_by(col(Repository.lower_name))
    return [repos.RepoRef(r, owner) for r in session.exec(stmt)]


# --- user actions -------------------------------------------------------------------------------------------


def get_user(session: Session, actor: Account, name: str) -> Account:
    require_site_admin(actor)
    return users.get_user(session, name)


def set_blocked(session: Session, actor: Account, name: str, blocked: bool) -> Account:
    """Block or unblock a user. Blocking signs them out everywhere and stops their tokens (see tokens.py)."""
    user = get_user(session, actor, name)
    users.set_blocked(session, actor, user, blocked)
    return user


def set_admin(session: Session, actor: Account, name: str, is_admin: bool) -> Account:
    user = get_user(session, actor, name)
    users.set_admin(session, actor, user, is_admin)
    return user


def approve(session: Session, actor: Account, name: str) -> Account:
    user = get_user(session, actor, name)
    if user.is_active:
        raise InvalidInput(N_("%(user)s is not waiting for approval."), user=user.name)
    users.approve(session, user)
    return user


def check_user_deletable(session: Session, actor: Account, user: Account) -> None:
    """Raise the reason ``user`` cannot be deleted, if any."""
    require_site_admin(actor)
    if user.id == actor.id:
        raise InvalidInput(N_("You cannot delete your own account here."))
    orphaned = users.sole_owned_orgs(session, user)
    if orphaned:
        raise Conflict(
            N_(
                "%(user)s is the only owner of %(orgs)s. Make someone else an owner or delete "
                "the organisation first."
            ),
            user=user.name,
            orgs=", ".join(o.name for o in orphaned),
        )


def delete_user(session: Session, settings: Settings, actor: Account, name: str) -> None:
    """Delete a user with their repositories (rows and directories), memberships, tokens and sessions."""
    user = get_user(session, actor, name)
    check_user_deletable(session, actor, user)
    owned = owned_repos(session, user)
    _delete_account_rows(session, user)
    # Disk work last: purge_repository removes each directory once its rows are gone.
    for ref in owned:
        repos.purge_repository(session, settings.repos_dir, ref)
    session.delete(user)
    session.flush()
    _remove_owner_dir(settings.repos_dir, user)
    users.avatar_path(settings.avatars_dir, user).unlink(missing_ok=True)


def _delete_account_rows(session: Session, user: Account) -> None:
    # The database cascades most of these, but deleting them here keeps the result the same on a database
    # whose foreign keys are not enforced, and makes the list of what goes explicit.
    _delete_all(session, select(OrgMember).where(OrgMember.user_id == user.id))
    _delete_all(session, select(TeamMember).where(TeamMember.user_id == user.id))
    _delete_all(session, select(Collaborator).where(Collaborator.user_id == user.id))
    _delete_owned_rows(session, user)
    # Push history of other repositories stays; it just no longer names the pusher.
    for event in session.exec(select(PushEvent).where(PushEvent.pusher_id == user.id)):
        event.pusher_id = None
        session.add(event)
    session.flush()


def _delete_all(session: Session, stmt: SelectOfScalar[Any]) -> None:
    for row in session.exec(stmt):
        session.delete(row)


def _delete_owned_rows(session: Session, account: Account) -> None:
    _delete_all(session, select(AccessToken).where(AccessToken.account_id == account.id))
    _delete_all(session, select(WebSession).where(WebSession.account_id == account.id))
    _delete_all(session, select(EmailAddress).where(EmailAddress.account_id == account.id))


def _remove_owner_dir(repos_root: Path, account: Account) -> None:
    owner_dir = repos_root / account.lower_name
    # rmdir only removes an empty directory: anything left is for an operator to look at.
    with contextlib.suppress(OSError):
        owner_dir.rmdir()


# --- organisations and repositories -------------------------------------------------------------------------


def get_org(session: Session, actor: Account, name: str) -> Account:
    require_site_admin(actor)
    account = users.find_account(session, name)
    if account is None or account.kind != AccountKind.ORG:
        raise NotFound(N_("No organisation is called “%(name)s”."), name=name)
    return account


def delete_org(session: Session, settings: Settings, actor: Account, name: str) -> None:
    """Delete an organisation with its repositories, teams and memberships."""
    org = get_org(session, actor, name)
    owned = owned_repos(session, org)
    teams = list(session.exec(select(Team).where(Team.org_id == org.id)))
    team_ids = [t.id for t in teams]
    _delete_all(session, select(TeamMember).where(col(TeamMember.team_id).in_(team_ids)))
    _delete_all(session, select(TeamRepo).where(col(TeamRepo.team_id).in_(team_ids)))
    for team in teams:
        session.delete(team)
    _delete_all(session, select(OrgMember).where(OrgMember.org_id == org.id))
    _delete_owned_rows(session, org)
    session.flush()
    for ref in owned:
        repos.purge_repository(session, settings.repos_dir, ref)
    session.delete(org)
    session.flush()
    _remove_owner_dir(settings.repos_dir, org)
    users.avatar_path(settings.avatars_dir, org).unlink(missing_ok=True)


def get_repo(session: Session, actor: Account, owner: str, name: str) -> repos.RepoRef:
    require_site_admin(actor)
    ref = repos.find_repo(session, owner, name)
    if ref is None:
        raise NotFound(N_("Repository not found."))
    return ref


def delete_repo(session: Session, settings: Settings, actor: Account, owner: str, name: str) -> None:
    repos.purge_repository(session, settings.repos_dir, get_repo(session, actor, owner, name))


# --- site settings ------------------------------------------------------------------------------------------


def set_signup_mode(session: Session, actor: Account, mode: str) -> None:
    require_site_admin(actor)
    site.set_signup_mode(session, mode)
