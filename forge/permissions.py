"""The one place that decides who may do what to a repository.

Every access check (web pages, API, git over HTTP, CLI) calls :func:`repo_access`, so the rules live here only:

* site administrators have full access to everything;
* the owning user, and owners of the owning organisation, have full access;
* otherwise the highest of: the user's direct collaborator permission and the permissions of the organisation's
  teams the user belongs to that include the repository;
* anyone, signed in or not, may read a public repository;
* an access token caps all of the above at what its scopes allow (reading a public repository stays allowed).

Blocked or unapproved users count as anonymous.
"""

from __future__ import annotations

import enum

from sqlmodel import Session, col, select

from forge.accounts.models import Account, AccountKind, OrgMember, Team, TeamMember, TeamRepo
from forge.errors import AuthenticationRequired, NotFound, PermissionDenied
from forge.i18n import N_
from forge.repos.models import Collaborator, Repository


class Access(enum.IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3
    OWNER = 4


_BY_NAME = {"read": Access.READ, "write": Access.WRITE, "admin": Access.ADMIN}


def access_from_name(name: str) -> Access:
    return _BY_NAME.get(name, Access.NONE)


def scope_cap(scopes: frozenset[str] | None) -> Access:
    """The most a token with ``scopes`` may do to a repository (None: not a token, no cap)."""
    if scopes is None:
        return Access.OWNER
    if "admin" in scopes or "admin:repo" in scopes:
        return Access.OWNER
    if "write:repo" in scopes:
        return Access.WRITE
    if "read:repo" in scopes:
        return Access.READ
    return Access.NONE


def repo_access(
    session: Session,
    actor: Account | None,
    repo: Repository,
    *,
    token_scopes: frozenset[str] | None = None,
) -> Access:
    public_floor = Access.NONE if repo.is_private else Access.READ
    if actor is None or actor.is_blocked or not actor.is_active:
        return public_floor
    level = _account_access(session, actor, repo)
    level = min(level, scope_cap(token_scopes))
    return max(level, public_floor)


def _account_access(session: Session, actor: Account, repo: Repository) -> Access:
    if actor.is_admin or repo.owner_id == actor.id:
        return Access.OWNER
    level = Access.NONE
    collab = session.exec(
        select(Collaborator).where(Collaborator.repo_id == repo.id, Collaborator.user_id == actor.id)
    ).first()
    if collab is not None:
        level = access_from_name(collab.permission)
    owner = session.get(Account, repo.owner_id)
    if owner is not None and owner.kind == AccountKind.ORG:
        member = session.exec(
            select(OrgMember).where(OrgMember.org_id == owner.id, OrgMember.user_id == actor.id)
        ).first()
        if member is not None and member.is_owner:
            return Access.OWNER
        if member is not None:
            teams = session.exec(
                select(Team)
                .join(TeamMember, col(TeamMember.team_id) == Team.id)
                .where(Team.org_id == owner.id, TeamMember.user_id == actor.id)
            ).all()
            linked = set(
                session.exec(
                    select(TeamRepo.team_id).where(
                        TeamRepo.repo_id == repo.id, col(TeamRepo.team_id).in_([t.id for t in teams])
                    )
                )
            )
            for team in teams:
                if team.includes_all_repos or team.id in linked:
                    level = max(level, access_from_name(team.permission))
    return level


def require_repo_access(
    session: Session,
    actor: Account | None,
    repo: Repository,
    needed: Access,
    *,
    token_scopes: frozenset[str] | None = None,
) -> Access:
    """Return the actor's access or raise: NotFound when the repository must stay invisible, otherwise
    AuthenticationRequired (anonymous) or PermissionDenied (signed in but not enough)."""
    level = repo_access(session, actor, repo, token_scopes=token_scopes)
    if level >= needed:
        return level
    if level == Access.NONE:
        raise NotFound(N_("Repository not found."))
    if actor is None:
        raise AuthenticationRequired(N_("Sign in to do this."))
    raise PermissionDenied(N_("You do not have permission to do this in this repository."))


def can_create_in(session: Session, actor: Account, owner: Account) -> bool:
    """Whether ``actor`` may create (or transfer/fork) a repository under ``owner``."""
    if actor.is_admin or actor.id == owner.id:
        return True
    if owner.kind != AccountKind.ORG:
        return False
    member = session.exec(
        select(OrgMember).where(OrgMember.org_id == owner.id, OrgMember.user_id == actor.id)
    ).first()
    # Like GitHub's default: every member of an organisation may create repositories in it.
    return member is not None
