"""The issue list (with its filters) and the new-issue page (with the repository's issue templates).

The conversation of one issue is web/routes/issue_conversation.py, its edit pages web/routes/issue_edits.py and
attachments web/routes/issue_attachments.py; what they all read from a request is web/issue_requests.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.errors import ForgeError
from forge.issues import access, issue_templates, metadata, search, triage
from forge.issues import services as issues
from forge.issues.models import CLOSED, OPEN
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web import issue_view
from web.forms import field
from web.issue_requests import (
    attach,
    check_length,
    ids,
    is_typed,
    lookup,
    optional_date,
    optional_int,
    page_context,
    read_upload_form,
    with_attachment,
)
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

_R = "/{owner}/{repo}"


# --- list --------------------------------------------------------------------------------------------------


def filter_from(request: Request) -> search.IssueFilter:
    """The list's filter from the URL: a query (``q``) or separate parameters, and the page."""
    params = request.query_params
    if "q" in params:
        f = search.parse_query(params["q"], search.IssueFilter(state="all"))
    else:
        f = search.IssueFilter(
            state=params.get("state", OPEN) if params.get("state") in (OPEN, CLOSED, "all") else OPEN,
            labels=[v for v in params.getlist("label") if v],
            no_label=params.get("no_label") == "1",
            milestone=params.get("milestone", ""),
            assignee=params.get("assignee", ""),
            author=params.get("author", ""),
            text=params.get("text", ""),
            sort=params.get("sort", "newest") if params.get("sort") in search.SORTS else "newest",
        )
    try:
        f.page = max(1, int(params.get("page", "1")))
    except ValueError:
        f.page = 1
    return f


def filter_url(base: str, f: search.IssueFilter, page: int = 1) -> str:
    query = {"q": search.to_query(f)}
    if page > 1:
        query["page"] = str(page)
    return f"{base}?{urlencode(query)}"


def _toggle_label(f: search.IssueFilter, name: str) -> search.IssueFilter:
    lowered = [n.lower() for n in f.labels]
    labels = [n for n in f.labels if n.lower() != name.lower()] if name.lower() in lowered else [*f.labels, name]
    return f.with_(labels=labels, no_label=False, page=1)


async def list_page(request: Request) -> Response:
    f = filter_from(request)

    def load(session: Session) -> dict[str, Any]:
        ref, level = lookup(session, request)
        ctx = page_context(session, ref, level)
        page = search.list_issues(session, ref, f)
        base = f"/{ref.full_name}/issues"
        labels = metadata.available_labels(session, ref)
        ctx.update({
            "filter": f,
            "query": search.to_query(f),
            "result": page,
            "base": base,
            "labels": labels,
            "milestones": metadata.milestones_of_repo(session, ref, None),
            "assignable": metadata.assignable_users(session, ref),
            "pinned": triage.pinned_issues(session, ref) if page.page == 1 else [],
            "url": lambda g, p=1: filter_url(base, g, p),
            "toggle_label": _toggle_label,
            "label_url": lambda name: filter_url(base, search.IssueFilter(labels=[name])),
            "sorts": search.SORTS,
            "is_filtered": search.to_query(f) != search.to_query(search.IssueFilter()),
        })
        return ctx

    ctx = await run_db(request, load)
    return render(request, "issues/list.html", ctx)


# --- new issue ---------------------------------------------------------------------------------------------


def _new_context(session: Session, request: Request, ref: RepoRef, level: Access) -> dict[str, Any]:
    ctx = page_context(session, ref, level)
    viewer = current_user(request)
    ctx["can_triage"] = access.can_triage(session, viewer, ref)
    if ctx["can_triage"]:
        ctx["all_labels"] = metadata.available_labels(session, ref)
        ctx["assignable"] = metadata.assignable_users(session, ref)
        ctx["milestones"] = metadata.milestones_of_repo(session, ref)
    return ctx


def _templates(request: Request, ref: RepoRef) -> list[issue_templates.IssueTemplate]:
    return issue_templates.list_templates(repos.path_of(settings_of(request).repos_dir, ref), ref.repo.default_branch)


def _template_values(session: Session, ref: RepoRef, template: issue_templates.IssueTemplate) -> dict[str, Any]:
    by_name = {label.lower_name: label for label in metadata.available_labels(session, ref)}
    label_ids = [by_name[n.lower()].id for n in template.labels if n.lower() in by_name]
    assignable = {u.lower_name: u for u in metadata.assignable_users(session, ref)}
    assignee_ids = [assignable[n.lower()].id for n in template.assignees if n.lower() in assignable]
    return {"title": template.title, "body": template.body, "label_ids": label_ids, "assignee_ids": assignee_ids,
            "template": template.file}


async def _new_page(request: Request, form: dict[str, Any] | None = None, error: ForgeError | None = None,
                    status: int = 200) -> Response:
    require_user(request)
    chosen = request.query_params.get("template", "")

    def load(session: Session) -> dict[str, Any]:
        ref, level = lookup(session, request)
        ctx = _new_context(session, request, ref, level)
        templates = _templates(request, ref)
        ctx["templates"] = templates
        values: dict[str, Any] = {"title": "", "body": "", "label_ids": [], "assignee_ids": [], "template": ""}
        template = issue_templates.find(templates, chosen) if chosen else None
        if template is not None:
            values = _template_values(session, ref, template)
            ctx["template"] = template
        ctx["choose"] = form is None and bool(templates) and not chosen and "blank" not in request.query_params
        ctx["form"] = form or values
        return ctx

    ctx = await run_db(request, load)
    ctx["error"] = error
    ctx["max_upload_mb"] = settings_of(request).attachment_max_mb
    return render(request, "issues/new.html", ctx, status=status)


async def new_page(request: Request) -> Response:
    await run_db(request, lambda s: lookup(s, request))  # a hidden repository is a 404, even signed out
    return await _new_page(request)


async def create(request: Request) -> Response:
    await run_db(request, lambda s: lookup(s, request))
    check_length(request)
    form, upload = await read_upload_form(request)
    actor = require_user(request)
    values: dict[str, Any] = {
        "title": field(form, "title"), "body": str(form.get("body") or ""), "label_ids": ids(form, "label"),
        "assignee_ids": ids(form, "assignee"), "milestone_id": optional_int(field(form, "milestone")),
        "due_date": field(form, "due_date"), "template": field(form, "template"),
    }
    if "attach" in form:
        try:
            stored = await attach(request, actor, upload)
        except ForgeError as exc:
            return await _new_page(request, values, exc, status=exc.status)
        values["body"] = with_attachment(values["body"], stored)
        return await _new_page(request, values)

    def work(session: Session) -> str:
        ref, _ = lookup(session, request)
        template_label_ids: list[int] = []
        if values["template"]:
            template = issue_templates.find(_templates(request, ref), values["template"])
            if template is not None:
                template_label_ids = _template_values(session, ref, template)["label_ids"]
        issue = issues.create_issue(
            session, actor, ref, title=values["title"], body=values["body"], label_ids=values["label_ids"],
            assignee_ids=values["assignee_ids"], milestone_id=values["milestone_id"],
            due_date=optional_date(values["due_date"]), template_label_ids=template_label_ids,
        )
        return issue_view.page_url(ref, issue)

    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        return await _new_page(request, values, exc, status=exc.status)
    return RedirectResponse(url, status_code=303)


routes: list[BaseRoute] = [
    Route(_R + "/issues", list_page, methods=["GET"], name="issues"),
    Route(_R + "/issues/new", new_page, methods=["GET"], name="issue_new"),
    Route(_R + "/issues/new", create, methods=["POST"]),
]
