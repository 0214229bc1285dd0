"""Editing what was written in a conversation: the issue's title and description, a comment; deleting a comment.

These have pages of their own (the forms work without JavaScript, attachments included) and the same rule: the
author of what is edited, or people who may triage; the services enforce it again when the form is sent.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.errors import ForgeError, PermissionDenied
from forge.i18n import N_
from forge.issues import access, comments
from forge.issues import services as issues
from forge.issues.models import Issue, IssueComment
from forge.permissions import Access
from forge.repos.services import RepoRef
from web import issue_view
from web.forms import field, read_form, redirect
from web.issue_requests import (
    attach,
    check_length,
    is_typed,
    issue_of,
    looked_up_issue,
    lookup,
    page_context,
    read_upload_form,
    with_attachment,
)
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

_I = "/{owner}/{repo}/issues/{number:int}"


def _edit_context(session: Session, request: Request, ref: RepoRef, level: Access, issue: Issue,
                  author_id: int | None) -> dict[str, Any]:
    """The page around an edit form, for the author of what is edited and people who may triage. A pull request's
    tab stays active when its conversation is edited."""
    if not access.is_author_or_triager(session, current_user(request), ref, author_id):
        raise PermissionDenied(N_("Only the author and people with write access can do this."))
    ctx = page_context(session, ref, level)
    ctx.update({"issue": issue, "issue_url": issue_view.issue_url(ref, issue),
                "page_url": issue_view.page_url(ref, issue)})
    if issue.is_pull:
        ctx["tab"] = "pulls"
    return ctx


async def _edit_page(request: Request, form: dict[str, str] | None = None, error: ForgeError | None = None) -> Response:
    require_user(request)

    def load(session: Session) -> dict[str, Any]:
        ref, level = lookup(session, request)
        issue = issue_of(session, request, ref)
        return _edit_context(session, request, ref, level, issue, issue.author_id)

    ctx = await run_db(request, load)
    ctx["form"] = form or {"title": ctx["issue"].title, "body": ctx["issue"].body}
    ctx["error"] = error
    ctx["max_upload_mb"] = settings_of(request).attachment_max_mb
    return render(request, "issues/edit.html", ctx, status=error.status if error else 200)


async def edit_page(request: Request) -> Response:
    await run_db(request, lambda s: looked_up_issue(s, request))
    return await _edit_page(request)


async def edit(request: Request) -> Response:
    await run_db(request, lambda s: looked_up_issue(s, request))
    check_length(request)
    form, upload = await read_upload_form(request)
    actor = require_user(request)
    values = {"title": field(form, "title"), "body": str(form.get("body") or "")}
    if "attach" in form:
        try:
            stored = await attach(request, actor, upload)
        except ForgeError as exc:
            return await _edit_page(request, values, exc)
        values["body"] = with_attachment(values["body"], stored)
        return await _edit_page(request, values)

    def work(session: Session) -> str:
        ref, _ = lookup(session, request)
        issue = issue_of(session, request, ref)
        issues.edit_issue(session, actor, ref, issue, title=values["title"] if "title" in form else None,
                          body=values["body"] if "body" in form else None)
        return issue_view.page_url(ref, issue)

    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        return await _edit_page(request, values, exc)
    return RedirectResponse(url, status_code=303)


def _comment(session: Session, request: Request) -> tuple[RepoRef, Access, Issue, IssueComment]:
    ref, level = lookup(session, request)
    issue = issue_of(session, request, ref)
    return ref, level, issue, comments.get_comment(session, issue, int(request.path_params["comment_id"]))


async def _comment_edit_page(request: Request, body: str | None = None, error: ForgeError | None = None) -> Response:
    require_user(request)

    def load(session: Session) -> dict[str, Any]:
        ref, level, issue, comment = _comment(session, request)
        ctx = _edit_context(session, request, ref, level, issue, comment.author_id)
        ctx["comment"] = comment
        return ctx

    ctx = await run_db(request, load)
    ctx["body"] = ctx["comment"].body if body is None else body
    ctx["error"] = error
    return render(request, "issues/comment_edit.html", ctx, status=error.status if error else 200)


async def comment_edit_page(request: Request) -> Response:
    await run_db(request, lambda s: _comment(s, request))
    return await _comment_edit_page(request)


async def comment_edit(request: Request) -> Response:
    await run_db(request, lambda s: _comment(s, request))
    form = await read_form(request)
    actor = require_user(request)
    body = str(form.get("body") or "")

    def work(session: Session) -> str:
        ref, _, issue, comment = _comment(session, request)
        comments.edit_comment(session, actor, ref, issue, comment, body)
        return f"{issue_view.page_url(ref, issue)}#comment-{comment.id}"

    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        return await _comment_edit_page(request, body, exc)
    return RedirectResponse(url, status_code=303)


async def comment_delete(request: Request) -> Response:
    await run_db(request, lambda s: _comment(s, request))
    await read_form(request)
    actor = require_user(request)

    def work(session: Session) -> str:
        ref, _, issue, comment = _comment(session, request)
        comments.delete_comment(session, actor, ref, issue, comment)
        return issue_view.page_url(ref, issue)

    url = await run_db(request, work)
    return redirect(request, url, N_("Comment deleted."))


routes: list[BaseRoute] = [
    Route(_I + "/edit", edit_page, methods=["GET"], name="issue_edit"),
    Route(_I + "/edit", edit, methods=["POST"]),
    Route(_I + "/comments/{comment_id:int}/edit", comment_edit_page, methods=["GET"], name="issue_comment_edit"),
    Route(_I + "/comments/{comment_id:int}/edit", comment_edit, methods=["POST"]),
    Route(_I + "/comments/{comment_id:int}/delete", comment_delete, methods=["POST"]),
]
