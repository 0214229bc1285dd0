"""Organisations, their members and owners, and teams with repository permissions."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from forge.accounts.models import Account, AccountKind, OrgMember, Team, TeamMember, TeamRepo
from forge.accounts.users import find_account, update_profile
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.names import validate_account_name
from forge.permissions import Access, repo_access
from forge.repos.models import Repository

TEAM_PERMISSIONS = ("read", "write", "admin")


def create_org(session: Session, creator: Account, name: str, *, display_name: str = "") -> Account:
    validate_account_name(name)
    if len(display_name.strip()) > 128:
        raise InvalidInput(N_("Display names may be at most 128 characters long."))
    if find_account(session, name) is not None:
        raise Conflict(N_("The name “%(name)s” is already taken."), name=name)
    org = Account(kind=AccountKind.ORG, name=name, lower_name=name.lower(), display_name=display_name.strip())
    session.add(org)
    session.flush()
    assert org.id is not None and creator.id is not None
    session.add(OrgMember(org_id=org.id, user_id=creator.id, is_owner=True))
    session.flush()
    return org


def get_org(session: Session, name: str) -> Account:
    org = find_account(session, name)
    if org is None or org.kind != AccountKind.ORG:
        raise NotFound(N_("No organisation is called “%(name)s”."), name=name)
    return org


def membership(session: Session, org: Account, user: Account | None) -> OrgMember | None:
    if user is None:
        return None
    stmt = select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user.id)
    return session.exec(stmt).first()


def is_owner(session: Session, org: Account, user: Account | None) -> bool:
    if user is not None and user.is_admin:
        return True
    m = membership(session, org, user)
    return m is not None and m.is_owner


def is_member(session: Session, org: Account, user: Account | None) -> bool:
    return is_owner(session, org, user) or membership(session, org, user) is not None


def require_member(session: Session, org: Account, user: Account | None) -> None:
    """Member-only pages (teams, the member list): site administrators count as members."""
    if not is_member(session, org, user):
        raise PermissionDenied(N_("Only members of %(org)s can see this page."), org=org.name)


def require_owner(session: Session, org: Account, user: Account | None) -> None:
    if not is_owner(session, org, user):
        raise PermissionDenied(N_("Only owners of %(org)s can do this."), org=org.name)


def update_org_profile(
    session: Session, actor: Account, org: Account, *, display_name: str, bio: str, website: str
) -> Account:
    require_owner(session, org, actor)
    return update_profile(session, org, display_name=display_name, bio=bio, website=website)


def _user_named(session: Session, name: str) -> Account:
    """The user a form names; an unknown name is bad input, not a missing page."""
    if not name.strip():
        raise InvalidInput(N_("Enter a user name."))
    user = find_account(session, name.strip())
    if user is None or user.kind != AccountKind.USER:
        raise InvalidInput(N_("No user is called “%(name)s”."), name=name.strip())
    return user


def list_members(session: Session, org: Account) -> list[tuple[OrgMember, Account]]:
    stmt = (
        select(OrgMember, Account)
        .join(Account, col(Account.id) == OrgMember.user_id)
        .where(OrgMember.org_id == org.id)
        .order_by(col(Account.lower_name))
    )
    return [(m, a) for m, a in session.exec(stmt)]


def orgs_of(session: Session, user: Account) -> list[Account]:
    stmt = (
        select(Account)
        .join(OrgMember, col(OrgMember.org_id) == Account.id)
        .where(OrgMember.user_id == user.id)
        .order_by(col(Account.lower_name))
    )
    return list(session.exec(stmt))


def add_member(session: Session, actor: Account, org: Account, user: Account, *, owner: bool = False) -> None:
    require_owner(session, org, actor)
    if user.kind != AccountKind.USER:
        raise InvalidInput(N_("Only users can be members of an organisation."))
    m = membership(session, org, user)
    if m is None:
        assert org.id is not None and user.id is not None
        session.add(OrgMember(org_id=org.id, user_id=user.id, is_owner=owner))
    else:
        if m.is_owner and not owner:
            _check_not_last_owner(session, org)
        m.is_owner = owner
        session.add(m)
    session.flush()


def add_member_by_name(
    session: Session, actor: Account, org: Account, name: str, *, owner: bool = False
) -> Account:
    user = _user_named(session, name)
    if membership(session, org, user) is not None:
        raise Conflict(N_("%(user)s is already a member of %(org)s."), user=user.name, org=org.name)
    add_member(session, actor, org, user, owner=owner)
    return user


def set_member_owner(session: Session, actor: Account, org: Account, name: str, owner: bool) -> Account:
    """Make an existing member an owner or a plain member (an organisation keeps at least one owner)."""
    user = _user_named(session, name)
    require_owner(session, org, actor)
    if membership(session, org, user) is None:
        raise NotFound(N_("%(user)s is not a member of %(org)s."), user=user.name, org=org.name)
    add_member(session, actor, org, user, owner=owner)
    return user


def remove_member_by_name(session: Session, actor: Account, org: Account, name: str) -> Account:
    user = _user_named(session, name)
    remove_member(session, actor, org, user)
    return user


def _owner_count(session: Session, org: Account) -> int:
    return session.exec(
        select(func.count())
        .select_from(OrgMember)
        .where(OrgMember.org_id == org.id, OrgMember.is_owner == True)  # noqa: E712
    ).one()


def _check_not_last_owner(session: Session, org: Account) -> None:
    if _owner_count(session, org) <= 1:
        raise InvalidInput(N_("An organisation needs at least one owner."))


def remove_member(session: Session, actor: Account, org: Account, user: Account) -> None:
    # Members may leave on their own; removing someone else takes an owner.
    if actor.id != user.id:
        require_owner(session, org, actor)
    m = membership(session, org, user)
    if m is None:
        raise NotFound(N_("%(user)s is not a member of %(org)s."), user=user.name, org=org.name)
    if m.is_owner:
        _check_not_last_owner(session, org)
    for tm in session.exec(
        select(TeamMember)
        .join(Team, col(Team.id) == TeamMember.team_id)
        .where(Team.org_id == org.id, TeamMember.user_id == user.id)
    ):
        session.delete(tm)
    session.delete(m)
    session.flush()


# --- teams --------------------------------------------------------------------------------------------------


def _check_permission(permission: str) -> str:
    if permission not in TEAM_PERMISSIONS:
        raise InvalidInput(N_("Permission must be read, write or admin."))
    return permission


def create_team(
    session: Session,
    actor: Account,
    org: Account,
    name: str,
    *,
    permission: str = "read",
    description: str = "",
    includes_all_repos: bool = False,
) -> Team:
    require_owner(session, org, actor)
    validate_account_name(name)
    _check_permission(permission)
    if session.exec(select(Team).where(Team.org_id == org.id, Team.lower_name == name.lower())).first():
        raise Conflict(N_("A team called “%(name)s” already exists."), name=name)
    assert org.id is not None
    team = Team(
        org_id=org.id,
        name=name,
        lower_name=name.lower(),
        permission=permission,
        description=description.strip()[:512],
        includes_all_repos=includes_all_repos,
    )
    session.add(team)
    session.flush()
    return team


def update_team(
    session: Session,
    actor: Account,
    team: Team,
    *,
    permission: str,
    description: str,
    includes_all_repos: bool,
) -> None:
    org = session.get(Account, team.org_id)
    assert org is not None
    require_owner(session, org, actor)
    team.permission = _check_permission(permission)
    team.description = description.strip()[:512]
    team.includes_all_repos = includes_all_repos
    session.add(team)


def get_team(session: Session, org: Account, name: str) -> Team:
    team = session.exec(select(Team).where(Team.org_id == org.id, Team.lower_name == name.lower())).first()
    if team is None:
        raise NotFound(N_("No team is called “%(name)s”."), name=name)
    return team


def get_team_by_id(session: Session, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def list_teams(session: Session, org: Account) -> list[Team]:
    return list(session.exec(select(Team).where(Team.org_id == org.id).order_by(col(Team.lower_name))))


def delete_team(session: Session, actor: Account, team: Team) -> None:
    org = session.get(Account, team.org_id)
    assert org is not None
    require_owner(session, org, actor)
    session.delete(team)


def team_members(session: Session, team: Team) -> list[Account]:
    stmt = (
        select(Account)
        .join(TeamMember, col(TeamMember.user_id) == Account.id)
        .where(TeamMember.team_id == team.id)
        .order_by(col(Account.lower_name))
    )
    return list(session.exec(stmt))


def add_team_member(session: Session, actor: Account, team: Team, user: Account) -> None:
    org = session.get(Account, team.org_id)
    assert org is not None and org.id is not None and team.id is not None and user.id is not None
    require_owner(session, org, actor)
    if user.kind != AccountKind.USER:
        raise InvalidInput(N_("Only users can be members of a team."))
    if membership(session, org, user) is None:
        # Joining a team makes the user a member of its organisation, as on GitHub.
        session.add(OrgMember(org_id=org.id, user_id=user.id, is_owner=False))
    exists = session.exec(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    ).first()
    if exists is None:
        session.add(TeamMember(team_id=team.id, user_id=user.id))
    session.flush()


def remove_team_member(session: Session, actor: Account, team: Team, user: Account) -> None:
    org = session.get(Account, team.org_id)
    assert org is not None
    require_owner(session, org, actor)
    tm = session.exec(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    ).first()
    if tm is None:
        raise NotFound(N_("%(user)s is not in this team."), user=user.name)
    session.delete(tm)


def team_repo_ids(session: Session, team: Team) -> list[int]:
    return list(session.exec(select(TeamRepo.repo_id).where(TeamRepo.team_id == team.id)))


def add_team_repo(session: Session, actor: Account, team: Team, repo_id: int, repo_owner_id: int) -> None:
    org = session.get(Account, team.org_id)
    assert org is not None and team.id is not None
    require_owner(session, org, actor)
    if repo_owner_id != team.org_id:
        raise InvalidInput(N_("A team can only be given repositories of its own organisation."))
    exists = session.exec(
        select(TeamRepo).where(TeamRepo.team_id == team.id, TeamRepo.repo_id == repo_id)
    ).first()
    if exists is None:
        session.add(TeamRepo(team_id=team.id, repo_id=repo_id))
    session.flush()


def remove_team_repo(session: Session, actor: Account, team: Team, repo_id: int) -> None:
    org = session.get(Account, team.org_id)
    assert org is not None
    require_owner(session, org, actor)
    stmt = select(TeamRepo).where(TeamRepo.team_id == team.id, TeamRepo.repo_id == repo_id)
    tr = session.exec(stmt).first()
    if tr is not None:
        session.delete(tr)


def user_team_ids(session: Session, user: Account) -> set[int]:
    return set(session.exec(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))


def add_team_member_by_name(session: Session, actor: Account, team: Team, name: str) -> Account:
    user = _user_named(session, name)
    add_team_member(session, actor, team, user)
    return user


def remove_team_member_by_name(session: Session, actor: Account, team: Team, name: str) -> Account:
    user = _user_named(session, name)
    remove_team_member(session, actor, team, user)
    return user


def _org_repo_named(session: Session, team: Team, name: str) -> Repository:
    if not name.strip():
        raise InvalidInput(N_("Enter a repository name."))
    stmt = select(Repository).where(
        Repository.owner_id == team.org_id, Repository.lower_name == name.strip().lower()
    )
    repo = session.exec(stmt).first()
    if repo is None:
        raise InvalidInput(N_("The organisation has no repository called “%(name)s”."), name=name.strip())
    return repo


def add_team_repo_by_name(session: Session, actor: Account, team: Team, name: str) -> Repository:
    repo = _org_repo_named(session, team, name)
    assert repo.id is not None
    add_team_repo(session, actor, team, repo.id, repo.owner_id)
    return repo


def remove_team_repo_by_name(session: Session, actor: Account, team: Team, name: str) -> Repository:
    repo = _org_repo_named(session, team, name)
    assert repo.id is not None
    remove_team_repo(session, actor, team, repo.id)
    return repo


def team_repos(session: Session, team: Team) -> list[Repository]:
    """The repositories linked to ``team`` (not the implied ones of an "all repositories" team)."""
    stmt = (
        select(Repository)
        .join(TeamRepo, col(TeamRepo.repo_id) == Repository.id)
        .where(TeamRepo.team_id == team.id)
        .order_by(col(Repository.lower_name))
    )
    return list(session.exec(stmt))


def team_repos_visible_to(session: Session, team: Team, viewer: Account | None) -> list[Repository]:
    """The team's repositories ``viewer`` may see: a team page must not leak a private repository's name."""
    return [r for r in team_repos(session, team) if repo_access(session, viewer, r) >= Access.READ]


def org_repos(session: Session, org: Account) -> list[Repository]:
    stmt = select(Repository).where(Repository.owner_id == org.id).order_by(col(Repository.lower_name))
    return list(session.exec(stmt))


def team_member_counts(session: Session, org: Account) -> dict[int, int]:
    stmt = (
        select(TeamMember.team_id, func.count())
        .join(Team, col(Team.id) == TeamMember.team_id)
        .where(Team.org_id == org.id)
        .group_by(col(TeamMember.team_id))
    )
    return {team_id: n for team_id, n in session.exec(stmt)}
