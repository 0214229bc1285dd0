"""A pull request's conversation and commits tabs, and the conversation's sidebar actions: review requests and
the draft state. The files tab and the review actions are in web.routes.pull_files; the merge box in
web.routes.pull_merge.

Handlers stay thin: the rules are in forge.pulls. The repository is looked up for the viewer first, so a private
repository is a plain 404 before anything else is read.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.i18n import N_
from forge.issues import metadata, timeline
from forge.permissions import Access
from forge.pulls import diffmap, reviews
from forge.pulls import services as pulls
from forge.pulls.models import PullRequest
from forge.repos import services as repos
from forge.repos import statuses as commit_statuses
from forge.repos.services import RepoRef
from web import issue_view, pull_checks, pull_merge_view
from web.forms import field, read_form
from web.pull_context import act_on_pull, int_ids, pull_base_context, user_ids_named
from web.pull_review_view import review_items
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

MAX_PULL_COMMITS = 250


def _commits(request: Request, ctx: dict[str, Any]) -> list[Any]:
    """The pull request's commits, oldest first as on GitHub (from the merge base to the head)."""
    pull: PullRequest = ctx["pull"]
    return diffmap.pull_commits(repos.open_git(settings_of(request).repos_dir, ctx["ref"]), pull,
                                MAX_PULL_COMMITS)[0]


async def conversation(request: Request) -> Response:
    viewer = current_user(request)

    def load(session: Session) -> dict[str, Any]:
        ctx = pull_base_context(session, request, "conversation")
        ref: RepoRef = ctx["ref"]
        level = Access(ctx["level"])
        pull: PullRequest = ctx["pull"]
        conv = issue_view.conversation_context(session, request, ref, level, ctx["issue"])
        items = list(conv.get("items", []))
        items.extend(review_items(session, request, ref, pull, viewer, level))
        conv["items"] = timeline.sort_items(items)
        ctx.update(conv)
        ctx["reviewers"] = reviews.reviewer_states(session, pull)
        ctx["reviewer_choices"] = metadata.assignable_users(session, ref) if ctx["may_edit"] else []
        ctx["pending_review"] = reviews.pending_review(session, viewer, pull) if viewer else None
        ctx["pending_count"] = reviews.pending_count(session, ctx["pending_review"])
        ctx.update(pull_checks.checks_context(session, ref, pull))
        ctx.update(pull_merge_view.merge_box_context(session, settings_of(request), request, ref, level,
                                                     ctx["issue"], pull))
        return ctx

    ctx = await run_db(request, load)
    return render(request, "pulls/conversation.html", ctx)


async def commits_page(request: Request) -> Response:
    def load(session: Session) -> dict[str, Any]:
        return pull_base_context(session, request, "commits")

    ctx = await run_db(request, load)
    ctx["commits"] = await run_in_threadpool(_commits, request, ctx)

    def statuses(session: Session) -> dict[str, Any]:
        return commit_statuses.combined_for(session, ctx["repo"].id, [c.sha for c in ctx["commits"]])

    ctx["commit_statuses"] = await run_db(request, statuses)
    return render(request, "pulls/commits.html", ctx)


# --- review requests and draft -----------------------------------------------------------------------------


async def reviewers(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    names = field(form, "reviewers")
    remove = int_ids(form.getlist("remove"))
    rerequest = int_ids(form.getlist("rerequest"))

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "conversation")
        ref, pull = ctx["ref"], ctx["pull"]
        if remove:
            reviews.remove_review_request(session, actor, ref, pull, remove)
        if rerequest:
            reviews.request_review(session, actor, ref, pull, rerequest)
        if names:
            reviews.request_review(session, actor, ref, pull, user_ids_named(session, names))
        return str(ctx["pull_url"])

    return await act_on_pull(request, work, N_("Reviewers updated."))


async def draft(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    make_draft = field(form, "draft") == "1"

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "conversation")
        pulls.set_draft(session, actor, ctx["ref"], ctx["pull"], make_draft)
        return str(ctx["pull_url"])

    message = N_("This pull request is a draft again.") if make_draft else N_(
        "This pull request is ready for review.")
    return await act_on_pull(request, work, message)


_R = "/{owner}/{repo}/pulls"

routes: list[BaseRoute] = [
    Route(_R + "/{number:int}", conversation, methods=["GET"], name="pull_conversation"),
    Route(_R + "/{number:int}/commits", commits_page, methods=["GET"], name="pull_commits"),
    Route(_R + "/{number:int}/reviewers", reviewers, methods=["POST"], name="pull_reviewers"),
    Route(_R + "/{number:int}/draft", draft, methods=["POST"], name="pull_draft"),
]
