"""Labels and milestones pages of a repository (and an organisation's labels).

Reading needs read access to the repository; changing labels and milestones needs WRITE access (the services check
it); an organisation's labels are managed by its owners at ``/org/{org}/settings/labels``.
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
from forge.accounts.models import Account, AccountKind
from forge.errors import ForgeError
from forge.i18n import N_
from forge.issues import labels as label_service
from forge.issues import milestones as milestone_service
from forge.issues import search
from forge.issues.models import CLOSED, OPEN
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web.forms import field, read_form, redirect
from web.issue_requests import is_typed, lookup, optional_date, page_context
from web.state import current_user, require_user, run_db
from web.templating import render

_R = "/{owner}/{repo}"


def _label_values(form: FormData) -> dict[str, str]:
    return {"name": field(form, "name"), "color": field(form, "color"), "description": field(form, "description")}


# --- repository labels -------------------------------------------------------------------------------------


async def _labels_page(request: Request, form: dict[str, str] | None = None, error: ForgeError | None = None,
                       editing: int | None = None) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ref, level = lookup(session, request)
        ctx = page_context(session, ref, level)
        own = label_service.list_scope(session, label_service.repo_scope(ref))
        org_labels = (label_service.list_scope(session, label_service.org_scope(ref.owner))
                      if ref.owner.kind == AccountKind.ORG else [])
        ids = [label.id for label in own + org_labels if label.id is not None]
        ctx.update({
            "labels": own, "org_labels": org_labels,
            "open_counts": label_service.open_issue_counts(session, ids, ref.repo.id),
            "is_org_owner": ref.owner.kind == AccountKind.ORG and orgs.is_owner(session, ref.owner,
                                                                                 current_user(request)),
        })
        return ctx

    ctx = await run_db(request, load)
    ctx["form"] = form or {"color": "#ededed"}
    ctx["error"] = error
    ctx["editing"] = editing
    ctx["defaults"] = label_service.DEFAULT_LABELS
    ctx["list_url"] = lambda name: f"/{ctx['ref'].full_name}/issues?" + _q(f"is:open label:{_quoted(name)}")
    return render(request, "labels/list.html", ctx, status=error.status if error else 200)


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


def _q(query: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"q": query})


async def labels_page(request: Request) -> Response:
    return await _labels_page(request)


async def _label_action(request: Request, action: Callable[[Session, Account, RepoRef, dict[str, str]], Any],
                        message: str, editing: bool = False) -> Response:
    await run_db(request, lambda s: lookup(s, request))
    form = await read_form(request)
    actor = require_user(request)
    values = _label_values(form)

    def work(session: Session) -> str:
        ref, _ = lookup(session, request)
        action(session, actor, ref, values)
        return ref.full_name

    try:
        full_name = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        label_id = request.path_params.get("label_id") if editing else None
        return await _labels_page(request, values, exc, int(label_id) if label_id else None)
    return redirect(request, f"/{full_name}/labels", message, name=values["name"])


async def create_label(request: Request) -> Response:
    def action(session: Session, actor: Account, ref: RepoRef, values: dict[str, str]) -> None:
        label_service.create_label(session, actor, ref=ref, name=values["name"], color=values["color"],
                                   description=values["description"])

    return await _label_action(request, action, N_("Label %(name)s created."))


async def update_label(request: Request) -> Response:
    def action(session: Session, actor: Account, ref: RepoRef, values: dict[str, str]) -> None:
        label = label_service.get_label(session, int(request.path_params["label_id"]), ref=ref)
        label_service.update_label(session, actor, label, ref=ref, name=values["name"], color=values["color"],
                                   description=values["description"])

    return await _label_action(request, action, N_("Label %(name)s saved."), editing=True)


async def delete_label(request: Request) -> Response:
    await run_db(request, lambda s: lookup(s, request))
    await read_form(request)
    actor = require_user(request)

    def work(session: Session) -> tuple[str, str]:
        ref, _ = lookup(session, request)
        label = label_service.get_label(session, int(request.path_params["label_id"]), ref=ref)
        name = label.name
        label_service.delete_label(session, actor, label, ref=ref)
        return ref.full_name, name

    full_name, name = await run_db(request, work)
    return redirect(request, f"/{full_name}/labels", N_("Label %(name)s deleted."), name=name)


async def default_labels(request: Request) -> Response:
    await run_db(request, lambda s: lookup(s, request))
    await read_form(request)
    actor = require_user(request)

    def work(session: Session) -> tuple[str, int]:
        ref, _ = lookup(session, request)
        return ref.full_name, label_service.create_default_labels(session, actor, ref)

    full_name, count = await run_db(request, work)
    return redirect(request, f"/{full_name}/labels", N_("%(count)s default labels added."), count=count)


# --- organisation labels -----------------------------------------------------------------------------------


def _org(session: Session, request: Request) -> Account:
    org = orgs.get_org(session, request.path_params["org"])
    orgs.require_owner(session, org, current_user(request))
    return org


async def _org_labels_page(request: Request, form: dict[str, str] | None = None, error: ForgeError | None = None,
                           editing: int | None = None) -> Response:
    require_user(request)

    def load(session: Session) -> dict[str, Any]:
        org = _org(session, request)
        labels = label_service.list_scope(session, label_service.org_scope(org))
        return {"org": org, "labels": labels, "is_owner": True, "section": "labels",
                "open_counts": label_service.open_issue_counts(session, [la.id for la in labels if la.id])}

    ctx = await run_db(request, load)
    ctx["form"] = form or {"color": "#ededed"}
    ctx["error"] = error
    ctx["editing"] = editing
    return render(request, "labels/org.html", ctx, status=error.status if error else 200)


async def org_labels_page(request: Request) -> Response:
    return await _org_labels_page(request)


async def _org_label_action(request: Request, action: Callable[[Session, Account, Account, dict[str, str]], Any],
                            message: str, editing: bool = False) -> Response:
    require_user(request)
    await run_db(request, lambda s: _org(s, request))
    form = await read_form(request)
    actor = require_user(request)
    values = _label_values(form)

    def work(session: Session) -> str:
        org = _org(session, request)
        action(session, actor, org, values)
        return org.name

    try:
        name = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        label_id = request.path_params.get("label_id") if editing else None
        return await _org_labels_page(request, values, exc, int(label_id) if label_id else None)
    return redirect(request, f"/org/{name}/settings/labels", message, name=values["name"])


async def org_create_label(request: Request) -> Response:
    def action(session: Session, actor: Account, org: Account, values: dict[str, str]) -> None:
        label_service.create_label(session, actor, org=org, name=values["name"], color=values["color"],
                                   description=values["description"])

    return await _org_label_action(request, action, N_("Label %(name)s created."))


async def org_update_label(request: Request) -> Response:
    def action(session: Session, actor: Account, org: Account, values: dict[str, str]) -> None:
        label = label_service.get_label(session, int(request.path_params["label_id"]), org=org)
        label_service.update_label(session, actor, label, org=org, name=values["name"], color=values["color"],
                                   description=values["description"])

    return await _org_label_action(request, action, N_("Label %(name)s saved."), editing=True)


async def org_delete_label(request: Request) -> Response:
    require_user(request)
    await run_db(request, lambda s: _org(s, request))
    await read_form(request)
    actor = require_user(request)

    def work(session: Session) -> tuple[str, str]:
        org = _org(session, request)
        label = label_service.get_label(session, int(request.path_params["label_id"]), org=org)
        name = label.name
        label_service.delete_label(session, actor, label, org=org)
        return org.name, name

    org_name, name = await run_db(request, work)
    return redirect(request, f"/org/{org_name}/settings/labels", N_("Label %(name)s deleted."), name=name)


# --- milestones --------------------------------------------------------------------------------------------


async def milestones_page(request: Request) -> Response:
    state = request.query_params.get("state", OPEN)
    state = state if state in (OPEN, CLOSED) else OPEN

    def load(session: Session) -> dict[str, Any]:
        ref, level = lookup(session, request)
        ctx = page_context(session, ref, level)
        ctx.update({"rows": milestone_service.list_milestones(session, ref, state), "state": state,
                    "counts": milestone_service.count_by_state(session, ref)})
        return ctx

    ctx = await run_db(request, load)
    return render(request, "milestones/list.html", ctx)


async def milestone_page(request: Request) -> Response:
    state = request.query_params.get("state", OPEN)
    state = state if state in (OPEN, CLOSED, "all") else OPEN
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1

    def load(session: Session) -> dict[str, Any]:
        ref, level = lookup(session, request)
        ctx = page_context(session, ref, level)
        milestone = milestone_service.get_milestone(session, ref, int(request.path_params["milestone_id"]))
        from web.issue_view import render_text

        f = search.IssueFilter(state=state, milestone=milestone.title, page=page)
        ctx.update({
            "row": milestone_service.row_for(session, milestone), "milestone": milestone, "state": state,
            "result": search.list_issues(session, ref, f, is_pull=None),
            "description_html": render_text(session, request, ref, milestone.description),
        })
        return ctx

    ctx = await run_db(request, load)
    return render(request, "milestones/view.html", ctx)


def _milestone_values(form: FormData) -> dict[str, str]:
    return {"title": field(form, "title"), "description": str(form.get("description") or ""),
            "due_on": field(form, "due_on")}


async def _milestone_form(request: Request, form: dict[str, str] | None = None,
                          error: ForgeError | None = None) -> Response:
    require_user(request)
    milestone_id = request.path_params.get("milestone_id")

    def load(session: Session) -> dict[str, Any]:
        ref, level = repos.get_visible_repo(session, current_user(request), request.path_params["owner"],
                                            request.path_params["repo"], Access.WRITE)
        ctx = page_context(session, ref, level)
        ctx["milestone"] = milestone_service.get_milestone(session, ref, int(milestone_id)) if milestone_id else None
        return ctx

    ctx = await run_db(request, load)
    m = ctx["milestone"]
    ctx["form"] = form or ({"title": m.title, "description": m.description,
                            "due_on": m.due_on.isoformat() if m.due_on else ""} if m else {})
    ctx["error"] = error
    return render(request, "milestones/form.html", ctx, status=error.status if error else 200)


async def new_milestone_page(request: Request) -> Response:
    await run_db(request, lambda s: lookup(s, request))
    return await _milestone_form(request)


async def edit_milestone_page(request: Request) -> Response:
    await run_db(request, lambda s: milestone_service.get_milestone(
        s, lookup(s, request)[0], int(request.path_params["milestone_id"])))
    return await _milestone_form(request)


async def save_milestone(request: Request) -> Response:
    milestone_id = request.path_params.get("milestone_id")
    await run_db(request, lambda s: lookup(s, request))
    form = await read_form(request)
    actor = require_user(request)
    values = _milestone_values(form)

    def work(session: Session) -> tuple[str, int]:
        ref, _ = lookup(session, request)
        due = optional_date(values["due_on"])
        if milestone_id:
            milestone = milestone_service.get_milestone(session, ref, int(milestone_id))
            milestone_service.update_milestone(session, actor, ref, milestone, title=values["title"],
                                               description=values["description"], due_on=due)
        else:
            milestone = milestone_service.create_milestone(session, actor, ref, title=values["title"],
                                                           description=values["description"], due_on=due)
        assert milestone.id is not None
        return ref.full_name, milestone.id

    try:
        full_name, new_id = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        return await _milestone_form(request, values, exc)
    return redirect(request, f"/{full_name}/milestones/{new_id}", N_("Milestone %(title)s saved."),
                    title=values["title"])


async def _milestone_action(request: Request, what: str) -> Response:
    await run_db(request, lambda s: lookup(s, request))
    await read_form(request)
    actor = require_user(request)

    def work(session: Session) -> tuple[str, str]:
        ref, _ = lookup(session, request)
        milestone = milestone_service.get_milestone(session, ref, int(request.path_params["milestone_id"]))
        title = milestone.title
        if what == "delete":
            milestone_service.delete_milestone(session, actor, ref, milestone)
        else:
            milestone_service.set_state(session, actor, ref, milestone, CLOSED if what == "close" else OPEN)
        return ref.full_name, title

    full_name, title = await run_db(request, work)
    messages = {"delete": N_("Milestone %(title)s deleted."), "close": N_("Milestone %(title)s closed."),
                "reopen": N_("Milestone %(title)s reopened.")}
    return redirect(request, f"/{full_name}/milestones", messages[what], title=title)


async def close_milestone(request: Request) -> Response:
    return await _milestone_action(request, "close")


async def reopen_milestone(request: Request) -> Response:
    return await _milestone_action(request, "reopen")


async def delete_milestone(request: Request) -> Response:
    return await _milestone_action(request, "delete")


_M = _R + "/milestones/{milestone_id:int}"

routes: list[BaseRoute] = [
    Route("/org/{org}/settings/labels", org_labels_page, methods=["GET"], name="org_labels"),
    Route("/org/{org}/settings/labels", org_create_label, methods=["POST"]),
    Route("/org/{org}/settings/labels/{label_id:int}/edit", org_update_label, methods=["POST"]),
    Route("/org/{org}/settings/labels/{label_id:int}/delete", org_delete_label, methods=["POST"]),
    Route(_R + "/labels", labels_page, methods=["GET"], name="repo_labels"),
    Route(_R + "/labels", create_label, methods=["POST"]),
    Route(_R + "/labels/defaults", default_labels, methods=["POST"]),
    Route(_R + "/labels/{label_id:int}/edit", update_label, methods=["POST"]),
    Route(_R + "/labels/{label_id:int}/delete", delete_label, methods=["POST"]),
    Route(_R + "/milestones", milestones_page, methods=["GET"], name="repo_milestones"),
    Route(_R + "/milestones/new", new_milestone_page, methods=["GET"], name="milestone_new"),
    Route(_R + "/milestones/new", save_milestone, methods=["POST"]),
    Route(_M, milestone_page, methods=["GET"], name="milestone"),
    Route(_M + "/edit", edit_milestone_page, methods=["GET"], name="milestone_edit"),
    Route(_M + "/edit", save_milestone, methods=["POST"]),
    Route(_M + "/close", close_milestone, methods=["POST"]),
    Route(_M + "/reopen", reopen_milestone, methods=["POST"]),
    Route(_M + "/delete", delete_milestone, methods=["POST"]),
]
