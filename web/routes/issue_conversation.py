"""The issue conversation: its page, commenting, and the actions of its sidebar and buttons (close, reopen,
labels, assignees, milestone, due date, lock, pin, reactions).

The actions under ``/{owner}/{repo}/issues/{number}/...`` serve pull requests too (their conversation is an
issue's): after the action the browser goes back to the page the conversation is shown on. The repository is
looked up (and read access checked) before anything else, so a stranger gets the same 404 for every URL of a
hidden repository; the services check the rest. Mistakes in what was typed (an empty comment) come back as a
message on the page; refusals are the usual 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.accounts.models import Account
from forge.errors import ForgeError
from forge.i18n import N_
from forge.issues import comments, reactions, triage
from forge.issues import services as issues
from forge.issues.models import COMPLETED, Issue
from forge.repos.services import RepoRef
from web import issue_view
from web.forms import field, read_form, redirect
from web.issue_requests import (
    attach,
    check_length,
    conversation_url,
    ids,
    is_typed,
    issue_of,
    looked_up_issue,
    lookup,
    optional_date,
    optional_int,
    page_context,
    read_upload_form,
    with_attachment,
)
from web.state import require_user, run_db, settings_of
from web.templating import render

_I = "/{owner}/{repo}/issues/{number:int}"


async def _issue_page(request: Request, comment_body: str = "", error: ForgeError | None = None,
                      status: int = 200) -> Response:
    def load(session: Session) -> dict[str, Any] | str:
        ref, level = lookup(session, request)
        issue = issue_of(session, request, ref)
        if issue.is_pull:
            return issue_view.page_url(ref, issue)
        ctx = page_context(session, ref, level)
        ctx.update(issue_view.conversation_context(session, request, ref, level, issue))
        return ctx

    ctx = await run_db(request, load)
    if isinstance(ctx, str):
        return RedirectResponse(ctx, status_code=301)
    ctx["comment_body"] = comment_body
    ctx["error"] = error
    ctx["max_upload_mb"] = settings_of(request).attachment_max_mb
    return render(request, "issues/view.html", ctx, status=status)


async def issue_page(request: Request) -> Response:
    return await _issue_page(request)


Action = Callable[[Session, Account, RepoRef, Issue, FormData], object]


async def _act(request: Request, action: Action) -> Response:
    """Run a conversation action and go back to the conversation; a typed mistake comes back as a message."""
    await run_db(request, lambda s: looked_up_issue(s, request))
    form = await read_form(request)
    actor = require_user(request)

    def work(session: Session) -> str:
        ref, _ = lookup(session, request)
        issue = issue_of(session, request, ref)
        action(session, actor, ref, issue, form)
        return issue_view.page_url(ref, issue)

    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        url = await run_db(request, lambda s: conversation_url(s, request))
        return redirect(request, url, exc.message, kind="error", **exc.params)
    return RedirectResponse(url, status_code=303)


async def comment(request: Request) -> Response:
    """Add a comment; the same form closes ("Close with comment") or reopens, and attaches files without JS."""
    await run_db(request, lambda s: looked_up_issue(s, request))
    check_length(request)
    form, upload = await read_upload_form(request)
    actor = require_user(request)
    body = str(form.get("body") or "")
    if "attach" in form:
        try:
            stored = await attach(request, actor, upload)
        except ForgeError as exc:
            return await _conversation_again(request, body, exc)
        return await _conversation_again(request, with_attachment(body, stored))
    close_reason = field(form, "close")
    reopen = "reopen" in form

    def work(session: Session) -> tuple[str, int | None]:
        ref, _ = lookup(session, request)
        issue = issue_of(session, request, ref)
        comment_id = None
        if body.strip() or not (close_reason or reopen):
            comment_id = comments.add_comment(session, actor, ref, issue, body).id
        if close_reason:
            issues.close_issue(session, actor, ref, issue, reason=close_reason)
        elif reopen:
            issues.reopen_issue(session, actor, ref, issue)
        return issue_view.page_url(ref, issue), comment_id

    try:
        url, comment_id = await run_db(request, work)
    except ForgeError as exc:
        if not is_typed(exc):
            raise
        return await _conversation_again(request, body, exc)
    return RedirectResponse(url + (f"#comment-{comment_id}" if comment_id else ""), status_code=303)


async def _conversation_again(request: Request, body: str, error: ForgeError | None = None) -> Response:
    """Show the conversation again with the comment being written (after attaching a file, or a mistake). A pull
    request's conversation lives on its own page: there, the text goes back through a message."""
    is_pull = await run_db(request, lambda s: looked_up_issue(s, request).is_pull)
    if not is_pull:
        return await _issue_page(request, body, error, status=error.status if error else 200)
    url = await run_db(request, lambda s: conversation_url(s, request))
    if error is not None:
        return redirect(request, url, error.message, kind="error", **error.params)
    return redirect(request, url, N_("Attached; add this to your comment: %(markdown)s"), markdown=body.strip())


def _set_due_date(session: Session, actor: Account, ref: RepoRef, issue: Issue, form: FormData) -> None:
    due = None if "clear" in form else optional_date(field(form, "due_date"))
    triage.set_due_date(session, actor, ref, issue, due)


# The buttons and sidebar forms that change one thing and go back: the path under the issue, and what it does.
_ACTIONS: dict[str, Action] = {
    "close": lambda s, actor, ref, issue, form: issues.close_issue(s, actor, ref, issue,
                                                                   reason=field(form, "reason") or COMPLETED),
    "reopen": lambda s, actor, ref, issue, form: issues.reopen_issue(s, actor, ref, issue),
    "labels": lambda s, actor, ref, issue, form: triage.set_labels(s, actor, ref, issue, ids(form, "label")),
    "assignees": lambda s, actor, ref, issue, form: triage.set_assignees(s, actor, ref, issue, ids(form, "assignee")),
    "milestone": lambda s, actor, ref, issue, form: triage.set_milestone(s, actor, ref, issue,
                                                                         optional_int(field(form, "milestone"))),
    "due": _set_due_date,
    "lock": lambda s, actor, ref, issue, form: triage.lock_issue(s, actor, ref, issue, field(form, "reason")),
    "unlock": lambda s, actor, ref, issue, form: triage.unlock_issue(s, actor, ref, issue),
    "pin": lambda s, actor, ref, issue, form: triage.pin_issue(s, actor, ref, issue),
    "unpin": lambda s, actor, ref, issue, form: triage.unpin_issue(s, actor, ref, issue),
}


def _endpoint(action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _act(request, action)

    return endpoint


async def react(request: Request) -> Response:
    form_anchor: dict[str, str] = {}

    def action(session: Session, actor: Account, ref: RepoRef, issue: Issue, form: FormData) -> None:
        subject = field(form, "subject") or "issue"
        comment_id = optional_int(field(form, "comment_id")) or 0
        reactions.toggle_reaction(session, actor, ref, issue, field(form, "content"), subject=subject,
                                  comment_id=comment_id)
        form_anchor["anchor"] = f"#comment-{comment_id}" if subject == "comment" else (
            f"#review-comment-{comment_id}" if subject == "review_comment" else "#issue-body")

    response = await _act(request, action)
    if isinstance(response, RedirectResponse) and form_anchor.get("anchor") and response.status_code == 303:
        response.headers["location"] = response.headers["location"] + form_anchor["anchor"]
    return response


routes: list[BaseRoute] = [
    Route(_I, issue_page, methods=["GET"], name="issue"),
    Route(_I + "/comments", comment, methods=["POST"], name="issue_comment"),
    *(Route(f"{_I}/{path}", _endpoint(action), methods=["POST"], name=f"issue_{path}")
      for path, action in _ACTIONS.items()),
    Route(_I + "/reactions", react, methods=["POST"]),
]
