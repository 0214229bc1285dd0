"""Organisations: creation, profile settings, members and teams.

The organisation's public page is ``/<org>`` (web/routes/repos.py); everything here lives under ``/org/...``.
Owner checks happen in forge.accounts.orgs; these handlers only translate forms to service calls and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.accounts import orgs
from forge.accounts.models import Account, Team
from forge.errors import ForgeError
from forge.i18n import N_
from web.forms import checkbox, field, read_form, redirect
from web.state import current_user, require_user, run_db
from web.templating import render

Loader = Callable[[Session, "Account | None"], dict[str, Any]]
# What a successful POST returns: where to go next, the flash message and its parameters.
Outcome = tuple[str, str, dict[str, Any]]


def form_status(exc: ForgeError) -> int:
    # A generic ForgeError is a refused input, which the conventions answer with 422.
    return 422 if exc.status == 400 else exc.status


async def _show(
    request: Request, template: str, load: Loader, *, error: ForgeError | None = None,
    form: dict[str, Any] | None = None, status: int = 200,
) -> Response:
    viewer = current_user(request)
    ctx = await run_db(request, lambda s: load(s, viewer))
    ctx["error"] = error
    if form is not None:
        ctx["form"] = form
    return render(request, template, ctx, status=status)


async def _post(
    request: Request,
    work: Callable[[Session, Account, FormData], Outcome],
    template: str,
    load: Loader,
    keep: tuple[str, ...] = (),
) -> Response:
    """Run a form action; on a refused input re-render the page with the error and what the user typed."""
    user = require_user(request)
    form = await read_form(request)
    try:
        url, message, params = await run_db(request, lambda s: work(s, user, form))
    except ForgeError as exc:
        values: dict[str, Any] = {k: field(form, k) for k in keep}
        # The loader raises by itself when the page is not viewable (unknown org, not a member...).
        return await _show(request, template, load, error=exc, form=values, status=form_status(exc))
    return redirect(request, url, message, **params)


# --- creating an organisation ------------------------------------------------------------------------------


async def new_org_page(request: Request) -> Response:
    require_user(request)
    return render(request, "org/new.html", {"form": {}})


async def create_org(request: Request) -> Response:
    user = require_user(request)
    form = await read_form(request)
    values = {"name": field(form, "name"), "display_name": field(form, "display_name")}
    try:
        org = await run_db(
            request, lambda s: orgs.create_org(s, user, values["name"], display_name=values["display_name"])
        )
    except ForgeError as exc:
        return render(request, "org/new.html", {"form": values, "error": exc}, status=form_status(exc))
    return redirect(request, f"/{org.name}", N_("The organisation %(name)s was created."), name=org.name)


# --- settings ----------------------------------------------------------------------------------------------


def _settings_loader(name: str) -> Loader:
    def load(session: Session, viewer: Account | None) -> dict[str, Any]:
        org = orgs.get_org(session, name)
        orgs.require_owner(session, org, viewer)
        form = {"display_name": org.display_name, "bio": org.bio, "website": org.website}
        return {"org": org, "form": form, "section": "settings", "is_owner": True}

    return load


async def settings_page(request: Request) -> Response:
    require_user(request)
    return await _show(request, "org/settings.html", _settings_loader(request.path_params["org"]))


async def update_settings(request: Request) -> Response:
    name = request.path_params["org"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        orgs.update_org_profile(
            session, user, org,
            display_name=field(form, "display_name"), bio=field(form, "bio"), website=field(form, "website"),
        )
        return f"/org/{org.name}/settings", N_("The organisation's profile was saved."), {}

    return await _post(request, work, "org/settings.html", _settings_loader(name),
                       keep=("display_name", "bio", "website"))


# --- members -----------------------------------------------------------------------------------------------


def _members_loader(name: str) -> Loader:
    def load(session: Session, viewer: Account | None) -> dict[str, Any]:
        org = orgs.get_org(session, name)
        orgs.require_member(session, org, viewer)
        return {
            "org": org,
            "members": orgs.list_members(session, org),
            "is_owner": orgs.is_owner(session, org, viewer),
            "section": "members",
            "form": {},
        }

    return load


async def members_page(request: Request) -> Response:
    require_user(request)
    return await _show(request, "org/members.html", _members_loader(request.path_params["org"]))


async def add_member(request: Request) -> Response:
    name = request.path_params["org"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        owner = field(form, "role") == "owner"
        added = orgs.add_member_by_name(session, user, org, field(form, "name"), owner=owner)
        params = {"user": added.name, "org": org.name}
        return f"/org/{org.name}/members", N_("%(user)s was added to %(org)s."), params

    return await _post(request, work, "org/members.html", _members_loader(name), keep=("name", "role"))


async def set_member_role(request: Request) -> Response:
    name, member = request.path_params["org"], request.path_params["user"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        owner = field(form, "role") == "owner"
        changed = orgs.set_member_owner(session, user, org, member, owner)
        message = N_("%(user)s is now an owner.") if owner else N_("%(user)s is now a member.")
        return f"/org/{org.name}/members", message, {"user": changed.name}

    return await _post(request, work, "org/members.html", _members_loader(name))


async def remove_member(request: Request) -> Response:
    name, member = request.path_params["org"], request.path_params["user"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        removed = orgs.remove_member_by_name(session, user, org, member)
        if removed.id == user.id:
            return f"/{org.name}", N_("You have left %(org)s."), {"org": org.name}
        return f"/org/{org.name}/members", N_("%(user)s was removed from %(org)s."), {
            "user": removed.name, "org": org.name}

    return await _post(request, work, "org/members.html", _members_loader(name))


# --- teams -------------------------------------------------------------------------------------------------

TEAM_FIELDS = ("name", "description", "permission", "all_repos")


def _teams_loader(name: str) -> Loader:
    def load(session: Session, viewer: Account | None) -> dict[str, Any]:
        org = orgs.get_org(session, name)
        orgs.require_member(session, org, viewer)
        return {
            "org": org,
            "teams": orgs.list_teams(session, org),
            "member_counts": orgs.team_member_counts(session, org),
            "is_owner": orgs.is_owner(session, org, viewer),
            "permissions": orgs.TEAM_PERMISSIONS,
            "section": "teams",
            "form": {"permission": "read"},
        }

    return load


async def teams_page(request: Request) -> Response:
    require_user(request)
    return await _show(request, "org/teams.html", _teams_loader(request.path_params["org"]))


async def create_team(request: Request) -> Response:
    name = request.path_params["org"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        team = orgs.create_team(
            session, user, org, field(form, "name"),
            permission=field(form, "permission", "read"), description=field(form, "description"),
            includes_all_repos=checkbox(form, "all_repos"),
        )
        return f"/org/{org.name}/teams/{team.name}", N_("The team %(team)s was created."), {"team": team.name}

    return await _post(request, work, "org/teams.html", _teams_loader(name), keep=TEAM_FIELDS)


def _team_loader(name: str, team_name: str) -> Loader:
    def load(session: Session, viewer: Account | None) -> dict[str, Any]:
        org = orgs.get_org(session, name)
        orgs.require_member(session, org, viewer)
        team = orgs.get_team(session, org, team_name)
        owner = orgs.is_owner(session, org, viewer)
        return {
            "org": org,
            "team": team,
            "members": orgs.team_members(session, team),
            "repos": orgs.team_repos_visible_to(session, team, viewer),
            # Names offered when adding a repository (owners see every repository of the organisation).
            "org_repos": orgs.org_repos(session, org) if owner else [],
            "is_owner": owner,
            "permissions": orgs.TEAM_PERMISSIONS,
            "section": "teams",
            "form": {},
        }

    return load


TeamAct = Callable[[Session, Account, Team, FormData], tuple[str, dict[str, Any]]]


async def _team_action(request: Request, act: TeamAct, keep: tuple[str, ...] = ()) -> Response:
    """Shared shape of the team page's forms: find the team, act, come back to the team page."""
    name, team_name = request.path_params["org"], request.path_params["team"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        team = orgs.get_team(session, org, team_name)
        message, params = act(session, user, team, form)
        return f"/org/{org.name}/teams/{team.name}", message, params

    return await _post(request, work, "org/team.html", _team_loader(name, team_name), keep=keep)


async def team_page(request: Request) -> Response:
    require_user(request)
    load = _team_loader(request.path_params["org"], request.path_params["team"])
    return await _show(request, "org/team.html", load)


async def edit_team(request: Request) -> Response:
    def act(session: Session, user: Account, team: Team, form: FormData) -> tuple[str, dict[str, Any]]:
        orgs.update_team(
            session, user, team, permission=field(form, "permission"), description=field(form, "description"),
            includes_all_repos=checkbox(form, "all_repos"),
        )
        return N_("The team %(team)s was saved."), {"team": team.name}

    return await _team_action(request, act)


async def add_team_member(request: Request) -> Response:
    def act(session: Session, user: Account, team: Team, form: FormData) -> tuple[str, dict[str, Any]]:
        added = orgs.add_team_member_by_name(session, user, team, field(form, "name"))
        return N_("%(user)s was added to the team."), {"user": added.name}

    return await _team_action(request, act, keep=("name",))


async def remove_team_member(request: Request) -> Response:
    member = request.path_params["user"]

    def act(session: Session, user: Account, team: Team, form: FormData) -> tuple[str, dict[str, Any]]:
        removed = orgs.remove_team_member_by_name(session, user, team, member)
        return N_("%(user)s was removed from the team."), {"user": removed.name}

    return await _team_action(request, act)


async def add_team_repo(request: Request) -> Response:
    def act(session: Session, user: Account, team: Team, form: FormData) -> tuple[str, dict[str, Any]]:
        repo = orgs.add_team_repo_by_name(session, user, team, field(form, "repo"))
        return N_("The team now has access to %(repo)s."), {"repo": repo.name}

    return await _team_action(request, act, keep=("repo",))


async def remove_team_repo(request: Request) -> Response:
    repo_name = request.path_params["repo"]

    def act(session: Session, user: Account, team: Team, form: FormData) -> tuple[str, dict[str, Any]]:
        repo = orgs.remove_team_repo_by_name(session, user, team, repo_name)
        return N_("The team no longer has access to %(repo)s."), {"repo": repo.name}

    return await _team_action(request, act)


async def delete_team(request: Request) -> Response:
    name, team_name = request.path_params["org"], request.path_params["team"]

    def work(session: Session, user: Account, form: FormData) -> Outcome:
        org = orgs.get_org(session, name)
        team = orgs.get_team(session, org, team_name)
        orgs.delete_team(session, user, team)
        return f"/org/{org.name}/teams", N_("The team %(team)s was deleted."), {"team": team.name}

    return await _post(request, work, "org/team.html", _team_loader(name, team_name))


routes: list[BaseRoute] = [
    Route("/org/new", new_org_page, methods=["GET"], name="org_new"),
    Route("/org/new", create_org, methods=["POST"]),
    Route("/org/{org}/settings", settings_page, methods=["GET"], name="org_settings"),
    Route("/org/{org}/settings", update_settings, methods=["POST"]),
    Route("/org/{org}/members", members_page, methods=["GET"], name="org_members"),
    Route("/org/{org}/members", add_member, methods=["POST"]),
    Route("/org/{org}/members/{user}/role", set_member_role, methods=["POST"]),
    Route("/org/{org}/members/{user}/remove", remove_member, methods=["POST"]),
    Route("/org/{org}/teams", teams_page, methods=["GET"], name="org_teams"),
    Route("/org/{org}/teams", create_team, methods=["POST"]),
    Route("/org/{org}/teams/{team}", team_page, methods=["GET"], name="org_team"),
    Route("/org/{org}/teams/{team}/edit", edit_team, methods=["POST"]),
    Route("/org/{org}/teams/{team}/members", add_team_member, methods=["POST"]),
    Route("/org/{org}/teams/{team}/members/{user}/remove", remove_team_member, methods=["POST"]),
    Route("/org/{org}/teams/{team}/repos", add_team_repo, methods=["POST"]),
    Route("/org/{org}/teams/{team}/repos/{repo}/remove", remove_team_repo, methods=["POST"]),
    Route("/org/{org}/teams/{team}/delete", delete_team, methods=["POST"]),
]
