"""Runner pages: ``/admin/runners`` (every runner; instance registration tokens), and a "Runners" page in the
settings of each repository (``/{owner}/{repo}/settings/runners``) and organisation (``/org/{org}/settings/runners``)
with that scope's runners and registration tokens.

One set of handlers serves the three places; a :class:`Place` says whose runners, which layout and where the forms
post. A new registration token is shown once, in the answer to the form that made it (never in a cookie or a
redirect), with the exact ``forge-runner register`` command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ci import runner_admin, tokens
from ci.models import RegistrationToken
from ci.tokens import Scope
from forge.accounts import orgs
from forge.accounts.models import Account
from forge.errors import ForgeError, NotFound
from forge.i18n import N_
from web.forms import read_form, redirect
from web.repo_context import repo_settings_context
from web.state import current_user, require_site_admin, require_user, run_db, settings_of
from web.templating import render


@dataclass
class Place:
    scope: Scope | None  # None: the admin page, every runner
    token_scope: Scope  # the scope of the registration tokens made here
    template: str
    base: str  # where this page's forms post
    context: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[Session, Request], Place]


def _admin_place(session: Session, request: Request) -> Place:
    require_site_admin(request)  # the same answer as every other admin page
    return Place(None, Scope.instance(), "ci/runners_admin.html", "/admin/runners", {"section": "runners"})


def _repo_place(session: Session, request: Request) -> Place:
    ref, ctx = repo_settings_context(session, request, "runners")
    ctx["shared"] = runner_admin.shared_runners(session, ref.repo)
    scope = Scope.repo(ref.repo)
    return Place(scope, scope, "ci/runners_repo.html", f"/{ref.full_name}/settings/runners", ctx)


def _org_place(session: Session, request: Request) -> Place:
    org = orgs.get_org(session, request.path_params["org"])
    orgs.require_owner(session, org, current_user(request))
    scope = Scope.org(org)
    ctx = {"org": org, "is_owner": True, "section": "runners"}
    return Place(scope, scope, "ci/runners_org.html", f"/org/{org.name}/settings/runners", ctx)


def _page_context(session: Session, actor: Account | None, place: Place) -> dict[str, Any]:
    listed: list[RegistrationToken] = tokens.list_registration_tokens(session, place.token_scope)
    return {
        **place.context,
        "runners": runner_admin.list_runners(session, actor, place.scope),
        "reg_tokens": listed,
        "runners_base": place.base,
        "scope_kind": place.token_scope.kind,
        "online_seconds": runner_admin.ONLINE_SECONDS,
    }


async def _show(request: Request, load: Loader, *, extra: dict[str, Any] | None = None,
                error: ForgeError | None = None, status: int = 200) -> Response:
    actor = current_user(request)

    def work(session: Session) -> tuple[str, dict[str, Any]]:
        place = load(session, request)
        return place.template, _page_context(session, actor, place)

    template, ctx = await run_db(request, work)
    ctx.update(extra or {})
    ctx["error"] = error
    return render(request, template, ctx, status=status)


def _page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return await _show(request, load)

    return page


def _create_token(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def create(request: Request) -> Response:
        actor = require_user(request)
        await read_form(request)

        def work(session: Session) -> str:
            place = load(session, request)
            _, secret = tokens.create_registration_token(session, actor, place.token_scope)
            return secret

        secret = await run_db(request, work)
        command = f"forge-runner register --url {settings_of(request).public_url()} --token {secret}"
        return await _show(request, load, extra={"new_token": secret, "register_command": command})

    return create


def _revoke_token(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def revoke(request: Request) -> Response:
        actor = require_user(request)
        await read_form(request)
        token_id = request.path_params["token_id"]

        def work(session: Session) -> str:
            place = load(session, request)
            tokens.revoke_registration_token(session, actor, place.token_scope, token_id)
            return place.base

        try:
            base = await run_db(request, work)
        except ForgeError as exc:
            if exc.status != 404:
                raise
            return await _show(request, load, error=exc, status=404)
        return redirect(request, base, N_("The registration token was revoked. Runners registered with it keep "
                                          "working."))

    return revoke


_ACTIONS: dict[str, str] = {
    "pause": N_("Runner %(name)s is paused: it gets no new jobs."),
    "resume": N_("Runner %(name)s is active again."),
    "delete": N_("Runner %(name)s was deleted."),
}


def _runner_action(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def action(request: Request) -> Response:
        actor = require_user(request)
        await read_form(request)
        runner_id = request.path_params["runner_id"]
        name = request.path_params["action"]
        if name not in _ACTIONS:
            raise NotFound(N_("Page not found."))

        def work(session: Session) -> tuple[str, str]:
            place = load(session, request)
            if name == "delete":
                runner = runner_admin.delete_runner(session, actor, place.scope, runner_id)
            else:
                runner = runner_admin.set_active(session, actor, place.scope, runner_id, name == "resume")
            return place.base, runner.name

        base, runner_name = await run_db(request, work)
        return redirect(request, base, _ACTIONS[name], name=runner_name)

    return action


def _routes(prefix: str, load: Loader, name: str) -> list[BaseRoute]:
    return [
        Route(prefix, _page(load), methods=["GET"], name=name),
        Route(prefix + "/tokens", _create_token(load), methods=["POST"]),
        Route(prefix + "/tokens/{token_id:int}/revoke", _revoke_token(load), methods=["POST"]),
        Route(prefix + "/{runner_id:int}/{action}", _runner_action(load), methods=["POST"]),
    ]


routes: list[BaseRoute] = [
    *_routes("/admin/runners", _admin_place, "admin_runners"),
    *_routes("/org/{org}/settings/runners", _org_place, "org_runners"),
    *_routes("/{owner}/{repo}/settings/runners", _repo_place, "repo_runners"),
]
