"""API: organisations, their members and teams, and the teams' repositories.

The rules are the web's (forge.accounts.orgs): profiles are public; the member list and teams are shown to members
(site administrators count as members); changes take an owner. Tokens need ``read:org`` to read members and teams
and ``admin:org`` for any change (creating an organisation included).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response
from sqlmodel import Session

from forge.accounts import orgs, users
from forge.accounts.models import Account, AccountKind, Team
from forge.accounts.search import search_accounts
from forge.errors import NotFound
from forge.i18n import N_
from forge.repos.services import RepoRef, find_repo
from forge.wire.repos import RepositoryOut, repository
from forge.wire.users import User, UserBrief, user_brief, user_profile
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import OrgName, RepoName, UserName
from web.api.schemas.people import (
    LINE,
    Membership,
    MembershipUpdate,
    OrgCreate,
    OrgUpdate,
    TeamCreate,
    TeamUpdate,
)
from web.api.schemas.people import Team as TeamOut

router = APIRouter(tags=["orgs"])

TeamName = Annotated[str, Path(min_length=1, max_length=64, pattern=LINE, description="The team's name.")]


def _team_out(session: Session, org: Account, team: Team, base: str, counts: dict[int, int] | None = None) -> TeamOut:
    counts = orgs.team_member_counts(session, org) if counts is None else counts
    assert team.id is not None
    return TeamOut(
        id=team.id, name=team.name, description=team.description,
        permission=team.permission,  # type: ignore[arg-type]  # one of TEAM_PERMISSIONS, checked when saved
        includes_all_repos=team.includes_all_repos, members_count=counts.get(team.id, 0),
        organization=user_brief(org, base), html_url=f"{base}/org/{org.name}/teams/{team.name}",
        created_at=team.created_at,
    )


def _membership(session: Session, org: Account, user: Account, base: str) -> Membership:
    m = orgs.membership(session, org, user)
    if m is None:
        raise NotFound(N_("%(user)s is not a member of %(org)s."), user=user.name, org=org.name)
    return Membership(user=user_brief(user, base), organization=user_brief(org, base),
                      role="owner" if m.is_owner else "member")


def _member_view(session: Session, caller: Caller, name: str) -> Account:
    """The organisation, for a caller allowed to see its members and teams."""
    viewer = caller.require_user("read:org")
    org = orgs.get_org(session, name)
    orgs.require_member(session, org, viewer)
    return org


def _owned_team(session: Session, actor: Account, org_name: str, team_name: str) -> tuple[Account, Team]:
    """The organisation and team for a change: the owner check comes first, so nobody else learns which teams
    (or, from the next lookup, which private repositories) exist."""
    org = orgs.get_org(session, org_name)
    orgs.require_owner(session, org, actor)
    return org, orgs.get_team(session, org, team_name)


# --- organisations ------------------------------------------------------------------------------------------


@router.get("/orgs", response_model=list[UserBrief], summary="List organisations", responses=LIST_RESPONSES)
def list_orgs(request: Request, response: Response, page: PageDep,
              q: Annotated[str, Query(max_length=100, description="Words the name must contain.")] = "",
              ) -> list[UserBrief]:
    base = settings_of(request).public_url()
    with db(request) as session:
        found, total = search_accounts(session, q, kind=AccountKind.ORG, offset=page.offset, limit=page.limit)
        items = [user_brief(org, base) for org in found]
    link_headers(request, response, page, total)
    return items


@router.post("/orgs", response_model=User, status_code=201, summary="Create an organisation")
def create_org(request: Request, caller: CallerDep, body: OrgCreate) -> User:
    """Any user may create one and becomes its owner. Needs ``admin:org``."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        org = orgs.create_org(session, actor, body.name, display_name=body.full_name)
        return user_profile(org, settings_of(request).public_url())


@router.get("/orgs/{org}", response_model=User, summary="An organisation's profile")
def get_org(request: Request, org: OrgName) -> User:
    with db(request) as session:
        return user_profile(orgs.get_org(session, org), settings_of(request).public_url())


@router.patch("/orgs/{org}", response_model=User, summary="Change an organisation's profile")
def update_org(request: Request, caller: CallerDep, org: OrgName, body: OrgUpdate) -> User:
    """Owners only; needs ``admin:org``. Only the fields sent change."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account = orgs.get_org(session, org)
        orgs.update_org_profile(
            session, actor, account,
            display_name=account.display_name if body.full_name is None else body.full_name,
            bio=account.bio if body.bio is None else body.bio,
            website=account.website if body.website is None else body.website,
        )
        return user_profile(account, settings_of(request).public_url())


# --- members ------------------------------------------------------------------------------------------------


@router.get("/orgs/{org}/members", response_model=list[Membership], summary="List an organisation's members",
            responses=LIST_RESPONSES)
def list_members(request: Request, response: Response, caller: CallerDep, page: PageDep,
                 org: OrgName) -> list[Membership]:
    """Members only (and site administrators); needs ``read:org``."""
    base = settings_of(request).public_url()
    with db(request) as session:
        account = _member_view(session, caller, org)
        members = orgs.list_members(session, account)
        org_brief = user_brief(account, base)
        items = [Membership(user=user_brief(user, base), organization=org_brief,
                            role="owner" if m.is_owner else "member") for m, user in page.slice(members)]
    link_headers(request, response, page, len(members))
    return items


@router.get("/orgs/{org}/members/{user}", response_model=Membership, summary="A member's role")
def get_member(request: Request, caller: CallerDep, org: OrgName, user: UserName) -> Membership:
    """404 when the user is not a member. Members only; needs ``read:org``."""
    with db(request) as session:
        account = _member_view(session, caller, org)
        return _membership(session, account, users.get_user(session, user), settings_of(request).public_url())


@router.put("/orgs/{org}/members/{user}", response_model=Membership, summary="Add a member or change their role")
def set_member(request: Request, caller: CallerDep, org: OrgName, user: UserName,
               body: Annotated[MembershipUpdate | None, Body()] = None) -> Membership:
    """Owners only; needs ``admin:org``. An organisation keeps at least one owner."""
    actor = caller.require_user("admin:org")
    owner = body.owner if body is not None else False
    with db(request) as session:
        account = orgs.get_org(session, org)
        orgs.require_owner(session, account, actor)
        member = users.get_user(session, user)
        orgs.add_member(session, actor, account, member, owner=owner)
        return _membership(session, account, member, settings_of(request).public_url())


@router.delete("/orgs/{org}/members/{user}", status_code=204, response_class=Response,
               summary="Remove a member")
def remove_member(request: Request, caller: CallerDep, org: OrgName, user: UserName) -> Response:
    """Owners remove anyone; a member may remove themselves (leave). Needs ``admin:org``. Removing a member
    takes them out of the organisation's teams too."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account = orgs.get_org(session, org)
        orgs.remove_member(session, actor, account, users.get_user(session, user))
    return Response(status_code=204)


# --- teams --------------------------------------------------------------------------------------------------


@router.get("/orgs/{org}/teams", response_model=list[TeamOut], summary="List teams", responses=LIST_RESPONSES)
def list_teams(request: Request, response: Response, caller: CallerDep, page: PageDep,
               org: OrgName) -> list[TeamOut]:
    """Members only; needs ``read:org``."""
    base = settings_of(request).public_url()
    with db(request) as session:
        account = _member_view(session, caller, org)
        teams = orgs.list_teams(session, account)
        counts = orgs.team_member_counts(session, account)
        items = [_team_out(session, account, t, base, counts) for t in page.slice(teams)]
    link_headers(request, response, page, len(teams))
    return items


@router.post("/orgs/{org}/teams", response_model=TeamOut, status_code=201, summary="Create a team")
def create_team(request: Request, caller: CallerDep, org: OrgName, body: TeamCreate) -> TeamOut:
    """Owners only; needs ``admin:org``."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account = orgs.get_org(session, org)
        team = orgs.create_team(session, actor, account, body.name, permission=body.permission,
                                description=body.description, includes_all_repos=body.includes_all_repos)
        return _team_out(session, account, team, settings_of(request).public_url())


@router.get("/orgs/{org}/teams/{team}", response_model=TeamOut, summary="A team")
def get_team(request: Request, caller: CallerDep, org: OrgName, team: TeamName) -> TeamOut:
    """Members only; needs ``read:org``."""
    with db(request) as session:
        account = _member_view(session, caller, org)
        return _team_out(session, account, orgs.get_team(session, account, team), settings_of(request).public_url())


@router.patch("/orgs/{org}/teams/{team}", response_model=TeamOut, summary="Change a team")
def update_team(request: Request, caller: CallerDep, org: OrgName, team: TeamName, body: TeamUpdate) -> TeamOut:
    """Owners only; needs ``admin:org``. Only the fields sent change."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account, found = _owned_team(session, actor, org, team)
        orgs.update_team(
            session, actor, found,
            permission=found.permission if body.permission is None else body.permission,
            description=found.description if body.description is None else body.description,
            includes_all_repos=found.includes_all_repos if body.includes_all_repos is None
            else body.includes_all_repos,
        )
        return _team_out(session, account, found, settings_of(request).public_url())


@router.delete("/orgs/{org}/teams/{team}", status_code=204, response_class=Response, summary="Delete a team")
def delete_team(request: Request, caller: CallerDep, org: OrgName, team: TeamName) -> Response:
    """Owners only; needs ``admin:org``."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        _, found = _owned_team(session, actor, org, team)
        orgs.delete_team(session, actor, found)
    return Response(status_code=204)


@router.get("/orgs/{org}/teams/{team}/members", response_model=list[UserBrief], summary="List a team's members",
            responses=LIST_RESPONSES)
def list_team_members(request: Request, response: Response, caller: CallerDep, page: PageDep, org: OrgName,
                      team: TeamName) -> list[UserBrief]:
    """Members of the organisation only; needs ``read:org``."""
    base = settings_of(request).public_url()
    with db(request) as session:
        account = _member_view(session, caller, org)
        members = orgs.team_members(session, orgs.get_team(session, account, team))
        items = [user_brief(u, base) for u in page.slice(members)]
    link_headers(request, response, page, len(members))
    return items


@router.put("/orgs/{org}/teams/{team}/members/{user}", status_code=204, response_class=Response,
            summary="Add a user to a team")
def add_team_member(request: Request, caller: CallerDep, org: OrgName, team: TeamName, user: UserName) -> Response:
    """Owners only; needs ``admin:org``. A user who is not yet a member of the organisation becomes one."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account, found = _owned_team(session, actor, org, team)
        orgs.add_team_member(session, actor, found, users.get_user(session, user))
    return Response(status_code=204)


@router.delete("/orgs/{org}/teams/{team}/members/{user}", status_code=204, response_class=Response,
               summary="Remove a user from a team")
def remove_team_member(request: Request, caller: CallerDep, org: OrgName, team: TeamName,
                       user: UserName) -> Response:
    """Owners only; needs ``admin:org``. The user stays a member of the organisation."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account, found = _owned_team(session, actor, org, team)
        orgs.remove_team_member(session, actor, found, users.get_user(session, user))
    return Response(status_code=204)


@router.get("/orgs/{org}/teams/{team}/repos", response_model=list[RepositoryOut],
            summary="List a team's repositories", responses=LIST_RESPONSES)
def list_team_repos(request: Request, response: Response, caller: CallerDep, page: PageDep, org: OrgName,
                    team: TeamName) -> list[RepositoryOut]:
    """The repositories linked to the team that the caller may see (not the implied ones of a team with
    ``includes_all_repos``). Members of the organisation only; needs ``read:org``."""
    base = settings_of(request).public_url()
    with db(request) as session:
        account = _member_view(session, caller, org)
        found = orgs.team_repos_visible_to(session, orgs.get_team(session, account, team), caller.user)
        items = [repository(session, RepoRef(r, account), base) for r in page.slice(found)]
    link_headers(request, response, page, len(found))
    return items


def _org_repo(session: Session, org: Account, name: str) -> int:
    ref = find_repo(session, org.name, name)
    if ref is None or ref.repo.id is None:
        raise NotFound(N_("Repository not found."))
    return ref.repo.id


@router.put("/orgs/{org}/teams/{team}/repos/{repo}", status_code=204, response_class=Response,
            summary="Give a team a repository")
def add_team_repo(request: Request, caller: CallerDep, org: OrgName, team: TeamName, repo: RepoName) -> Response:
    """The team's permission then applies to the repository. Owners only; needs ``admin:org``."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account, found = _owned_team(session, actor, org, team)
        orgs.add_team_repo(session, actor, found, _org_repo(session, account, repo), account.id or 0)
    return Response(status_code=204)


@router.delete("/orgs/{org}/teams/{team}/repos/{repo}", status_code=204, response_class=Response,
               summary="Take a repository from a team")
def remove_team_repo(request: Request, caller: CallerDep, org: OrgName, team: TeamName, repo: RepoName) -> Response:
    """Owners only; needs ``admin:org``."""
    actor = caller.require_user("admin:org")
    with db(request) as session:
        account, found = _owned_team(session, actor, org, team)
        orgs.remove_team_repo(session, actor, found, _org_repo(session, account, repo))
    return Response(status_code=204)
