"""Webhook pages: ``/{owner}/{repo}/settings/hooks`` (repository admins) and ``/org/{org}/settings/hooks``
(organisation owners): the list, the add and edit forms, delete, "Test delivery", the recent deliveries and each
delivery's request and response with a "Redeliver" button.

One set of handlers serves both places; a :class:`Where` says whose hooks, which layout and where the forms post.
The rules (who may, what a valid hook is) are forge.webhooks.hooks', shared with the API. The secret is
write-only: the edit form leaves it empty, and an empty field keeps the saved one.
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

from forge.errors import ForgeError, InvalidInput
from forge.i18n import N_
from forge.webhooks import deliveries
from forge.webhooks import hooks as service
from forge.webhooks.events import SUBSCRIPTIONS
from forge.webhooks.hooks import HookTarget
from forge.webhooks.models import CONTENT_JSON, Webhook
from web.forms import checkbox, read_form, redirect
from web.forms import field as form_field
from web.repo_context import repo_settings_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

RECENT = 30  # deliveries listed on a hook's page


@dataclass
class Where:
    target: HookTarget
    layout: str
    base: str  # the hook list's address; every form posts under it
    context: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[Session, Request], Where]


def _repo_where(session: Session, request: Request) -> Where:
    ref, ctx = repo_settings_context(session, request, "hooks")
    return Where(HookTarget(repo=ref), "repo/settings_layout.html", f"/{ref.full_name}/settings/hooks", ctx)


def _org_where(session: Session, request: Request) -> Where:
    target = service.org_target(session, current_user(request), request.path_params["org"])
    assert target.org is not None
    ctx = {"org": target.org, "is_owner": True, "section": "hooks"}
    return Where(target, "webhooks/org_layout.html", f"/org/{target.org.name}/settings/hooks", ctx)


def _context(where: Where, **extra: Any) -> dict[str, Any]:
    return {**where.context, "layout": where.layout, "hooks_base": where.base,
            "subscriptions": [(key, label) for key, (_, label) in SUBSCRIPTIONS.items()], **extra}


def _values(form: FormData) -> dict[str, Any]:
    """What the hook form sent, as the page shows it again after an error."""
    return {
        "url": form_field(form, "url"),
        "content_type": form_field(form, "content_type") or CONTENT_JSON,
        "secret": str(form.get("secret") or ""),
        "clear_secret": checkbox(form, "clear_secret"),
        "everything": form_field(form, "events_mode") != "choose",
        "events": [str(e) for e in form.getlist("events")],
        "branch_filter": form_field(form, "branch_filter"),
        "active": checkbox(form, "active"),
    }


def _hook_values(hook: Any) -> dict[str, Any]:
    return {"url": hook.url, "content_type": hook.content_type, "secret": "", "clear_secret": False,
            "everything": not hook.events, "events": list(hook.events), "branch_filter": hook.branch_filter,
            "active": hook.active, "has_secret": bool(hook.secret)}


def _chosen_events(values: dict[str, Any]) -> list[str]:
    if values["everything"]:
        return []
    if not values["events"]:
        raise InvalidInput(N_("Choose at least one event, or send everything."))
    return list(values["events"])


def _status(exc: ForgeError) -> int:
    return 422 if exc.status == 400 else exc.status


# --- pages ----------------------------------------------------------------------------------------------------


def _list_page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        def work(session: Session) -> dict[str, Any]:
            where = load(session, request)
            found = service.list_hooks(session, where.target)
            return _context(where, hooks=found, last=service.last_deliveries(session, found))

        return render(request, "webhooks/list.html", await run_db(request, work))

    return page


async def _form_page(request: Request, load: Loader, hook_id: int | None, *, form: dict[str, Any] | None = None,
                     error: ForgeError | None = None) -> Response:
    def work(session: Session) -> dict[str, Any]:
        where = load(session, request)
        if hook_id is None:
            return _context(where, hook=None, recent=[])
        hook = service.get_hook(session, where.target, hook_id)
        return _context(where, hook=hook, recent=deliveries.list_deliveries(session, hook, limit=RECENT),
                        saved=_hook_values(hook))

    ctx = await run_db(request, work)
    if form is not None:
        ctx["form"] = {**ctx.get("saved", {}), **form}
    else:
        ctx["form"] = ctx.get("saved") or {"url": "", "content_type": CONTENT_JSON, "secret": "",
                                          "everything": True, "events": [], "branch_filter": "", "active": True}
    ctx["error"] = error
    return render(request, "webhooks/hook.html", ctx, status=_status(error) if error else 200)


def _new_page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return await _form_page(request, load, None)

    return page


def _edit_page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return await _form_page(request, load, request.path_params["hook_id"])

    return page


def _delivery_page(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        def work(session: Session) -> dict[str, Any]:
            where = load(session, request)
            hook = service.get_hook(session, where.target, request.path_params["hook_id"])
            row = deliveries.get_delivery(session, hook, request.path_params["delivery_id"])
            return _context(where, hook=hook, delivery=row)

        return render(request, "webhooks/delivery.html", await run_db(request, work))

    return page


# --- actions --------------------------------------------------------------------------------------------------


Save = Callable[[Session, Request, Where, dict[str, Any]], Webhook]


def _saving(load: Loader, save: Save, message: str) -> Callable[[Request], Awaitable[Response]]:
    """A form post that creates or changes a hook with ``save``, then shows the hook's page; a refusal shows the
    form again with what was typed and why."""
    async def handler(request: Request) -> Response:
        form = await read_form(request)
        require_user(request)
        values = _values(form)

        def work(session: Session) -> str:
            where = load(session, request)
            hook = save(session, request, where, values)
            return f"{where.base}/{hook.id}"

        try:
            url = await run_db(request, work)
        except ForgeError as exc:
            return await _form_page(request, load, request.path_params.get("hook_id"), form=values, error=exc)
        return redirect(request, url, message)

    return handler


def _add_hook(session: Session, request: Request, where: Where, values: dict[str, Any]) -> Webhook:
    return service.create_hook(
        session, settings_of(request), require_user(request), where.target, url=values["url"],
        content_type=values["content_type"], secret=values["secret"], events=_chosen_events(values),
        branch_filter=values["branch_filter"], active=values["active"])


def _save_hook(session: Session, request: Request, where: Where, values: dict[str, Any]) -> Webhook:
    hook = service.get_hook(session, where.target, request.path_params["hook_id"])
    # An empty secret field keeps the saved secret; "remove" clears it.
    secret = "" if values["clear_secret"] else (values["secret"] or None)
    service.update_hook(
        session, settings_of(request), hook, url=values["url"], content_type=values["content_type"], secret=secret,
        events=_chosen_events(values), branch_filter=values["branch_filter"], active=values["active"])
    return hook


def _create(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    return _saving(load, _add_hook, N_("The webhook was added."))


def _update(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    return _saving(load, _save_hook, N_("The webhook was saved."))


def _delete(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def delete(request: Request) -> Response:
        form = await read_form(request)
        require_user(request)
        hook_id = request.path_params["hook_id"]

        def work(session: Session) -> str:
            where = load(session, request)
            hook = service.get_hook(session, where.target, hook_id)
            if not checkbox(form, "confirm"):
                raise InvalidInput(N_("Tick the box to confirm that the webhook should be deleted."))
            service.delete_hook(session, hook)
            return where.base

        try:
            url = await run_db(request, work)
        except ForgeError as exc:
            return await _form_page(request, load, hook_id, error=exc)
        return redirect(request, url, N_("The webhook was deleted."))

    return delete


def _test(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def test(request: Request) -> Response:
        await read_form(request)
        user = require_user(request)
        base_url = settings_of(request).public_url()

        def work(session: Session) -> str:
            where = load(session, request)
            hook = service.get_hook(session, where.target, request.path_params["hook_id"])
            deliveries.send_test(session, where.target, hook, user, base_url)
            return f"{where.base}/{hook.id}"

        url = await run_db(request, work)
        return redirect(request, url, N_("A test delivery was sent; it appears under the recent deliveries."))

    return test


def _redeliver(load: Loader) -> Callable[[Request], Awaitable[Response]]:
    async def again(request: Request) -> Response:
        await read_form(request)
        require_user(request)

        def work(session: Session) -> str:
            where = load(session, request)
            hook = service.get_hook(session, where.target, request.path_params["hook_id"])
            row = deliveries.get_delivery(session, hook, request.path_params["delivery_id"])
            deliveries.redeliver(session, hook, row)
            return f"{where.base}/{hook.id}"

        url = await run_db(request, work)
        return redirect(request, url, N_("The delivery was sent again."))

    return again


def _routes(prefix: str, load: Loader, name: str) -> list[BaseRoute]:
    one = prefix + "/{hook_id:int}"
    return [
        Route(prefix, _list_page(load), methods=["GET"], name=name),
        Route(prefix + "/new", _new_page(load), methods=["GET"]),
        Route(prefix + "/new", _create(load), methods=["POST"]),
        Route(one, _edit_page(load), methods=["GET"]),
        Route(one, _update(load), methods=["POST"]),
        Route(one + "/delete", _delete(load), methods=["POST"]),
        Route(one + "/test", _test(load), methods=["POST"]),
        Route(one + "/deliveries/{delivery_id:int}", _delivery_page(load), methods=["GET"]),
        Route(one + "/deliveries/{delivery_id:int}/redeliver", _redeliver(load), methods=["POST"]),
    ]


# Organisation routes first: the repository pattern would also match /org/<name>/settings/hooks.
routes: list[BaseRoute] = [
    *_routes("/org/{org}/settings/hooks", _org_where, "org_hooks"),
    *_routes("/{owner}/{repo}/settings/hooks", _repo_where, "repo_hooks"),
]
