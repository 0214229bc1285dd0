"""CI/CD variables pages: ``/{owner}/{repo}/settings/ci/variables`` (repository admins) and
``/org/{org}/settings/ci/variables`` (organisation owners); site administrators reach both.

One set of handlers serves both places; a :class:`Where` says whose variables, which template and where the forms
post. A saved value is never put in a page again, except in the answer to the "Reveal" form (a POST, so it is
protected against other sites, never cached and never in a URL), which only owners may use and which is logged by
``ci.project_variables``. A form that fails keeps everything typed, value included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ci import project_variables as service
from ci.project_variables import Place, VariableInput
from forge.accounts import orgs
from forge.accounts.models import Account
from forge.errors import ForgeError
from forge.i18n import N_
from web.forms import checkbox, read_form, redirect
from web.forms import field as form_field
from web.repo_context import repo_settings_context
from web.state import current_user, require_user, run_db
from web.templating import render


@dataclass
class Where:
    place: Place
    template: str
    base: str  # this page's address; forms post under it
    context: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[Session, Request], Where]


def _repo_where(session: Session, request: Request) -> Where:
    ref, ctx = repo_settings_context(session, request, "ci_variables")
    return Where(Place.of_repo(ref), "ci/variables_repo.html", f"/{ref.full_name}/settings/ci/variables", ctx)


def _org_where(session: Session, request: Request) -> Where:
    org = orgs.get_org(session, request.path_params["org"])
    orgs.require_owner(session, org, current_user(request))
    ctx = {"org": org, "is_owner": True, "section": "ci_variables"}
    return Where(Place.of_org(org), "ci/variables_org.html", f"/org/{org.name}/settings/ci/variables", ctx)


def _input(form: FormData) -> VariableInput:
    raw_value = form.get("value", "")
    # Browsers send a textarea's line breaks as CRLF; a key file or certificate needs LF. Nothing else is changed
    # (a trailing newline matters to an SSH key, so the value is not stripped).
    value = raw_value.replace("\r\n", "\n") if isinstance(raw_value, str) else ""
    return VariableInput(
        key=form_field(form, "key"),
        value=value,
        description=form_field(form, "description"),
        masked=checkbox(form, "masked"),
        protected=checkbox(form, "protected"),
        is_file=form_field(form, "variable_type") == "file",
        raw=not checkbox(form, "expand"),
        environment_scope=form_field(form, "environment_scope") or "*",
    )


def _form_values(data: VariableInput) -> dict[str, Any]:
    return {
        "key": data.key, "value": data.value or "", "description": data.description, "masked": data.masked,
        "protected": data.protected, "is_file": data.is_file, "expand": not data.raw,
        "environment_scope": data.environment_scope,
    }


_NEW_FORM = {"key": "", "value": "", "description": "", "masked": False, "protected": False, "is_file": False,
             "expand": True, "environment_scope": "*"}


async def _show(request: Request, load: Loader, *, form: dict[str, Any] | None = None,
                editing: int | None = None, revealed: tuple[int, str] | None = None,
                error: ForgeError | None = None, status: int = 200) -> Response:
    actor = current_user(request)

    def work(session: Session) -> tuple[str, dict[str, Any]]:
        where = load(session, request)
        ctx: dict[str, Any] = {
            **where.context,
            "variables": service.list_variables(session, actor, where.place),
            "variables_base": where.base,
            "may_reveal": service.may_reveal(session, actor, where.place),
            "place_kind": "repo" if where.place.repo is not None else "org",
        }
        if editing is not None:
            variable = service.get_variable(session, actor, where.place, editing)
            ctx["editing"] = variable
            ctx["edit_form"] = form or {
                "key": variable.key, "value": "", "description": variable.description, "masked": variable.masked,
                "protected": variable.protected, "is_file": variable.is_file, "expand": not variable.raw,
                "environment_scope": variable.environment_scope,
            }
        return where.template, ctx

    template, ctx = await run_db(request, work)
    if editing is None:
        ctx["form"] = form or _NEW_FORM
    ctx["error"] = error
    ctx["revealed"] = revealed
    response = render(request, template, ctx, status=status)
    if revealed is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return await _show(request, load)

    return page


def _edit_page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return await _show(request, load, editing=request.path_params["variable_id"])

    return page


def _create(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def create(request: Request) -> Response:
        actor = require_user(request)
        form = await read_form(request)
        data = _input(form)

        def work(session: Session) -> str:
            where = load(session, request)
            service.create_variable(session, actor, where.place, data)
            return where.base

        try:
            base = await run_db(request, work)
        except ForgeError as exc:
            return await _show(request, load, form=_form_values(data), error=exc, status=exc.status)
        return redirect(request, base, N_("Variable %(name)s was added."), name=data.key.strip())

    return create


def _update(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def update(request: Request) -> Response:
        actor = require_user(request)
        form = await read_form(request)
        data = _input(form)
        variable_id = request.path_params["variable_id"]

        def work(session: Session) -> str:
            where = load(session, request)
            service.update_variable(session, actor, where.place, variable_id, data)
            return where.base

        try:
            base = await run_db(request, work)
        except ForgeError as exc:
            return await _show(request, load, form=_form_values(data), editing=variable_id, error=exc,
                               status=exc.status)
        return redirect(request, base, N_("Variable %(name)s was saved."), name=data.key.strip())

    return update


def _delete(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def delete(request: Request) -> Response:
        actor = require_user(request)
        await read_form(request)
        variable_id = request.path_params["variable_id"]

        def work(session: Session) -> tuple[str, str]:
            where = load(session, request)
            variable = service.delete_variable(session, actor, where.place, variable_id)
            return where.base, variable.key

        base, key = await run_db(request, work)
        return redirect(request, base, N_("Variable %(name)s was deleted."), name=key)

    return delete


def _reveal(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def reveal(request: Request) -> Response:
        actor: Account = require_user(request)
        await read_form(request)
        variable_id = request.path_params["variable_id"]

        def work(session: Session) -> str:
            where = load(session, request)
            _, value = service.reveal_variable(session, actor, where.place, variable_id)
            return value

        try:
            value = await run_db(request, work)
        except ForgeError as exc:
            if exc.status not in (409, 500):
                raise
            return await _show(request, load, error=exc, status=exc.status)
        return await _show(request, load, revealed=(variable_id, value))

    return reveal


def _routes(prefix: str, load: Loader, name: str) -> list[BaseRoute]:
    return [
        Route(prefix, _page(load), methods=["GET"], name=name),
        Route(prefix, _create(load), methods=["POST"]),
        Route(prefix + "/{variable_id:int}", _edit_page(load), methods=["GET"]),
        Route(prefix + "/{variable_id:int}", _update(load), methods=["POST"]),
        Route(prefix + "/{variable_id:int}/delete", _delete(load), methods=["POST"]),
        Route(prefix + "/{variable_id:int}/reveal", _reveal(load), methods=["POST"]),
    ]


# Organisation routes first: the repository pattern would also match /org/<name>/settings/ci/variables.
routes: list[BaseRoute] = [
    *_routes("/org/{org}/settings/ci/variables", _org_where, "org_ci_variables"),
    *_routes("/{owner}/{repo}/settings/ci/variables", _repo_where, "repo_ci_variables"),
]
