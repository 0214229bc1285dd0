"""Merging a pull request, auto-merge, deleting its branch, updating it with the base and resolving a conflict in
the browser.

The merge box itself is part of the conversation page (web/routes/pull_conversation.py includes
``pulls/_merge_box.html`` with :func:`web.pull_merge_view.merge_box_context`); its forms post here.
``/pulls/<n>/merge`` also answers GET with a page holding only the box, which is where a refused merge comes back
to: the reason is shown, with what was typed kept, and the status is the error's (422 when a requirement is not
met, 409 when the branch moved or conflicts).

The repository and pull request are looked up before the action runs, so a stranger meets the same 404 as for any
hidden repository; the action's own permission check (WRITE on the base repository) turns a reader away with 403.
Every rule lives in forge.pulls (merging, gate, auto_merge, gitops); the handlers only parse and render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.accounts.models import Account
from forge.errors import ForgeError, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.issues.models import Issue
from forge.permissions import Access
from forge.pulls import auto_merge, merging
from forge.pulls import services as pull_services
from forge.pulls.models import PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.settings import Settings
from web import pull_merge_view as merge_view
from web.forms import checkbox, field, read_form, redirect
from web.repo_context import header_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render


def _lookup(session: Session, request: Request) -> tuple[RepoRef, Access, Issue, PullRequest]:
    p = request.path_params
    ref, level = repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], Access.READ)
    issue, pull = pull_services.get_pull(session, ref, p["number"])
    return ref, level, issue, pull


def _pull_url(request: Request) -> str:
    p = request.path_params
    return f"/{p['owner']}/{p['repo']}/pulls/{p['number']}"


async def _merge_page(
    request: Request, form: dict[str, Any] | None = None, error: ForgeError | None = None
) -> Response:
    settings = settings_of(request)

    def load(session: Session) -> dict[str, Any]:
        ref, level, issue, pull = _lookup(session, request)
        ctx = header_context(ref, level, repos.fork_source(session, ref), "pulls")
        ctx.update(issue=issue, pull=pull)
        ctx.update(merge_view.merge_box_context(session, settings, request, ref, level, issue, pull, form=form,
                                                error=error))
        return ctx

    ctx = await run_db(request, load)
    status = (422 if isinstance(error, NotFound) else error.status) if error else 200
    return render(request, "pulls/merge.html", ctx, status=status)


async def merge_page(request: Request) -> Response:
    return await _merge_page(request)


async def _act(request: Request, action: Any) -> ForgeError | None:
    """Run ``action(session, ref, level, issue, pull)`` after the lookup and return the action's own error, if any.

    The lookup runs first, on its own: a hidden repository or pull request is a plain 404 before anything else.
    After that every refusal (a reader's 403 too) is shown on the page with the reason."""
    await run_db(request, lambda s: _lookup(s, request))
    try:
        await run_db(request, lambda s: action(s, *_lookup(s, request)))
    except ForgeError as exc:
        return exc
    return None


async def merge(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    settings = settings_of(request)
    style = field(form, "style")
    values: dict[str, Any] = {
        "style": style,
        "title": field(form, "title"),
        "message": str(form.get("message") or "").strip(),
        "delete_branch": checkbox(form, "delete_branch"),
        "expected_head": field(form, "expected_head"),
    }
    with_message = style in merge_view.STYLES_WITH_MESSAGE
    merged: dict[str, str] = {}

    def work(session: Session, ref: RepoRef, level: Access, issue: Issue, pull: PullRequest) -> None:
        merged["sha"] = merging.merge_pull(
            session, settings, actor, ref, pull, style=style,
            title=values["title"] if with_message else "", message=values["message"] if with_message else "",
            delete_branch=values["delete_branch"], expected_head=values["expected_head"],
        )

    error = await _act(request, work)
    if error is not None:
        return await _merge_page(request, values, error)
    return redirect(request, _pull_url(request), N_("Pull request #%(number)s merged in %(sha)s."),
                    number=request.path_params["number"], sha=merged["sha"][:10])


async def enable_auto_merge(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    values: dict[str, Any] = {"style": field(form, "style"), "delete_branch": checkbox(form, "delete_branch"),
                              "title": field(form, "title"), "message": str(form.get("message") or "").strip()}

    def work(session: Session, ref: RepoRef, level: Access, issue: Issue, pull: PullRequest) -> None:
        auto_merge.enable(session, actor, ref, pull, values["style"], values["delete_branch"])

    error = await _act(request, work)
    if error is not None:
        return await _merge_page(request, values, error)
    return redirect(request, _pull_url(request),
                    N_("Auto-merge enabled: the pull request will be merged when its requirements are met."))


async def disable_auto_merge(request: Request) -> Response:
    await read_form(request)
    actor = require_user(request)

    def work(session: Session, ref: RepoRef, level: Access, issue: Issue, pull: PullRequest) -> None:
        auto_merge.disable(session, actor, ref, pull)

    error = await _act(request, work)
    if error is not None:
        return await _merge_page(request, error=error)
    return redirect(request, _pull_url(request), N_("Auto-merge disabled."))


# What a head branch post does: (session, settings, actor, ref, pull, form) -> extra message params, if any.
_HeadChange = Callable[[Session, Settings, Account, RepoRef, PullRequest, FormData], dict[str, str] | None]


async def _head_branch_action(request: Request, change: _HeadChange, message: str) -> Response:
    """The posts that change the head branch (delete, restore, update): ``change(session, settings, actor, ref,
    pull, form)`` runs after the lookup; back to the pull request with ``message`` (its params: ``branch``, ``base``
    and what ``change`` returns), or to the merge page with the reason."""
    form = await read_form(request)
    actor = require_user(request)
    settings = settings_of(request)
    params: dict[str, str] = {}

    def work(session: Session, ref: RepoRef, level: Access, issue: Issue, pull: PullRequest) -> None:
        params.update(branch=pull.head_branch, base=pull.base_branch)
        params.update(change(session, settings, actor, ref, pull, form) or {})

    error = await _act(request, work)
    if error is not None:
        return await _merge_page(request, error=error)
    return redirect(request, _pull_url(request), message, **params)


async def delete_branch(request: Request) -> Response:
    return await _head_branch_action(
        request, lambda s, settings, actor, ref, pull, _: merging.delete_head_branch(s, settings, actor, ref, pull),
        N_("Branch %(branch)s deleted."))


async def restore_branch(request: Request) -> Response:
    return await _head_branch_action(
        request, lambda s, settings, actor, ref, pull, _: merging.restore_head_branch(s, settings, actor, ref, pull),
        N_("Branch %(branch)s restored."))


async def update_branch(request: Request) -> Response:
    def change(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest,
               form: FormData) -> dict[str, str]:
        sha = merging.update_branch(session, settings, actor, ref, pull, expected_head=field(form, "expected_head"))
        return {"sha": sha[:10]}

    return await _head_branch_action(request, change, N_("Branch %(branch)s updated with %(base)s in commit %(sha)s."))


# --- resolving a conflict in the browser --------------------------------------------------------------------


async def _conflict_page(
    request: Request, content: str | None = None, error: ForgeError | None = None, expected_head: str | None = None
) -> Response:
    settings = settings_of(request)

    def load(session: Session) -> dict[str, Any]:
        ref, level, issue, pull = _lookup(session, request)
        ctx = header_context(ref, level, repos.fork_source(session, ref), "pulls")
        box = merge_view.merge_box_context(session, settings, request, ref, level, issue, pull)["merge_box"]
        if not box.get("can_resolve"):
            if level < Access.WRITE:
                raise PermissionDenied(N_("Only people who may push to the branch can resolve its conflicts."))
            raise NotFound(N_("This pull request has no conflict that can be resolved in the browser."))
        path = pull.conflicts[0]
        sides = merging.conflict_file(session, settings, ref, pull, path)
        ctx.update(issue=issue, pull=pull, path=path, sides=sides, head_label=box["head_label"],
                   content=merge_view.marked_text(sides) if content is None else content,
                   expected_head=pull.head_sha if expected_head is None else expected_head,
                   url=_pull_url(request))
        return ctx

    ctx = await run_db(request, load)
    ctx["error"] = error
    status = (422 if isinstance(error, NotFound) else error.status) if error else 200
    return render(request, "pulls/conflict.html", ctx, status=status)


async def conflict_page(request: Request) -> Response:
    return await _conflict_page(request)


async def resolve_conflict(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    settings = settings_of(request)
    # Keep the text exactly as typed (line endings normalised the way a browser sends them).
    content = str(form.get("content") or "").replace("\r\n", "\n")
    path = field(form, "path")
    expected_head = field(form, "expected_head")
    names: dict[str, str] = {}

    def work(session: Session, ref: RepoRef, level: Access, issue: Issue, pull: PullRequest) -> None:
        if path not in pull.conflicts:
            raise InvalidInput(N_("%(path)s is not a conflicting file of this pull request."), path=path)
        names["sha"] = merging.resolve_conflict(session, settings, actor, ref, pull, path, content,
                                                expected_head=expected_head)

    error = await _act(request, work)
    if error is not None:
        return await _conflict_page(request, content, error, expected_head)
    return redirect(request, _pull_url(request), N_("Conflict in %(path)s resolved in commit %(sha)s."),
                    path=path, sha=names["sha"][:10])


_P = "/{owner}/{repo}/pulls/{number:int}"

routes: list[BaseRoute] = [
    Route(_P + "/merge", merge_page, methods=["GET"], name="pull_merge"),
    Route(_P + "/merge", merge, methods=["POST"]),
    Route(_P + "/auto-merge", enable_auto_merge, methods=["POST"]),
    Route(_P + "/auto-merge/disable", disable_auto_merge, methods=["POST"]),
    Route(_P + "/branch/delete", delete_branch, methods=["POST"]),
    Route(_P + "/branch/restore", restore_branch, methods=["POST"]),
    Route(_P + "/update-branch", update_branch, methods=["POST"]),
    Route(_P + "/conflicts", conflict_page, methods=["GET"], name="pull_conflicts"),
    Route(_P + "/conflicts", resolve_conflict, methods=["POST"]),
]
