"""A pull request's files tab: the diff with viewed checkboxes, review comments, threads and suggestions, and the
review actions (comment, reply, resolve, apply a suggestion, finish the review).

Commenting works without script: each line's "+" link reloads the page with a comment form under that line (a
"first line" field makes it a range). web/static/review.js makes it quicker: the form opens in place, shift-click
on a second "+" selects a range, and "Insert a suggestion" fills in a suggestion block with the selected lines.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge import push_processing
from forge.errors import ForgeError, NotFound
from forge.git.diffs import CommitDiff
from forge.i18n import N_
from forge.issues import reactions
from forge.permissions import Access
from forge.pulls import diffmap, review_comments, reviews, suggestions, viewed
from forge.pulls.models import APPROVED, CHANGES_REQUESTED, COMMENTED, PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web import issue_view
from web.diffs import diff_context, diff_options
from web.forms import field, read_form, redirect
from web.pull_context import act_on_pull, pull_base_context
from web.pull_review_view import thread_accounts, thread_view
from web.state import app_state, current_user, require_user, run_db, settings_of
from web.templating import render

log = logging.getLogger("forge.web")

_TARGET_RE = re.compile(r"^(\d+)([LR])(\d+)$")
VERDICT_BY_NAME = {"comment": COMMENTED, "approve": APPROVED, "request_changes": CHANGES_REQUESTED}


def _blob_key(blobs: dict[str, str], base_blobs: dict[str, str], path: str, old_path: str) -> str:
    """What a "viewed" tick remembers for a file: its blob at the head, or for a deleted file its base blob."""
    if path in blobs:
        return blobs[path]
    return "deleted:" + base_blobs.get(old_path or path, "")


def _target(request: Request) -> tuple[int, str, int] | None:
    """The line a comment form is open under without script (``?c=<file number><L|R><line>``)."""
    match = _TARGET_RE.match(request.query_params.get("c", ""))
    if match is None:
        return None
    return int(match.group(1)), "left" if match.group(2) == "L" else "right", int(match.group(3))


async def files_page(request: Request, error: ForgeError | None = None, form: dict[str, Any] | None = None) -> Response:
    viewer = current_user(request)
    options = diff_options(request)
    settings = settings_of(request)

    ctx = await run_db(request, lambda s: pull_base_context(s, request, "files"))
    ref: RepoRef = ctx["ref"]
    pull: PullRequest = ctx["pull"]
    git = repos.open_git(settings.repos_dir, ref)

    def load_diff() -> tuple[CommitDiff | None, dict[str, str], dict[str, str]]:
        if not pull.head_sha or not pull.merge_base:
            return None, {}, {}
        try:
            diff = diffmap.pull_diff(git, pull.merge_base, pull.head_sha, ignore_whitespace=options.ignore_whitespace,
                                     path=options.file)
        except NotFound:
            if options.file:
                raise
            return None, {}, {}
        blobs = diffmap.blob_ids(git, pull.head_sha, [f.new_path for f in diff.files if f.new_path])
        base_blobs = diffmap.blob_ids(git, pull.merge_base, [f.old_path for f in diff.files
                                                             if not f.new_path and f.old_path])
        return diff, blobs, base_blobs

    diff, blobs, base_blobs = await run_in_threadpool(load_diff)
    keys = {f.path: _blob_key(blobs, base_blobs, f.path, f.old_path) for f in diff.files} if diff else {}

    def load(session: Session) -> dict[str, Any]:
        level = Access(ctx["level"])
        threads = review_comments.threads(session, pull, viewer)
        accounts = thread_accounts(session, threads, set())
        may_apply = suggestions.may_apply(session, viewer, pull)
        views = [thread_view(session, request, ref, pull, t, accounts, level, may_apply) for t in threads]
        anchored: dict[tuple[str, str, int], list[Any]] = {}
        outdated: dict[str, list[Any]] = {}
        for view in views:
            root = view.root
            if root.outdated or root.commit_sha != pull.head_sha:
                outdated.setdefault(root.path, []).append(view)
            else:
                anchored.setdefault((root.path, root.side, root.line), []).append(view)
        pending = reviews.pending_review(session, viewer, pull) if viewer is not None else None
        issue = ctx["issue"]
        return {
            # What issues/_reactions.html reads, for the reactions on review comments.
            "reactions": {issue_view.reaction_key(subject, cid): groups
                          for (subject, cid), groups in reactions.reactions_for(session, issue, viewer).items()},
            "reaction_choices": [(c, reactions.REACTION_EMOJI[c]) for c in reactions.REACTIONS],
            "issue_url": issue_view.issue_url(ref, issue),
            "can_react": bool(ctx["may_comment"]),
            "anchored": anchored,
            "outdated_threads": outdated,
            "viewed": viewed.viewed_paths(session, viewer, pull, keys),
            "pending_review": pending,
            "pending_count": reviews.pending_count(session, pending),
        }

    ctx.update(await run_db(request, load))
    ctx.update(diff_context(request, diff, options))
    ctx.update(blob_keys=keys, comment_target=_target(request), error=error, form=form or {},
               files_url=f"{ctx['pull_url']}/files")
    status = error.status if error is not None else 200
    if isinstance(error, NotFound):
        status = 422
    return render(request, "pulls/files.html", ctx, status=status)


def _back(form: Any, default: str) -> str:
    """Where an action returns to: the page of this pull request the form was on, else ``default`` (the files
    tab). Only paths of the same pull request are followed, so the field cannot send anyone elsewhere."""
    back = field(form, "back")
    pull_url = default.removesuffix("/files")
    if back == pull_url or back.startswith((pull_url + "/", pull_url + "?")):
        return back
    return default


async def edit_comment(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    comment_id = int(request.path_params["comment"])
    body = str(form.get("body") or "")

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "files")
        comment = review_comments.edit_review_comment(session, actor, ctx["ref"], ctx["pull"], comment_id, body)
        return f"{_back(form, ctx['pull_url'] + '/files')}#thread-{comment.thread_id}"

    return await act_on_pull(request, work, "", tab="files")


async def delete_comment(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    comment_id = int(request.path_params["comment"])

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "files")
        review_comments.delete_review_comment(session, actor, ctx["ref"], ctx["pull"], comment_id)
        return _back(form, ctx["pull_url"] + "/files")

    return await act_on_pull(request, work, N_("Comment deleted."), tab="files")


def _kick_push_processing(request: Request) -> None:
    """An applied suggestion moved a branch: handle its push event now (CI, references), as after a git push."""
    state = app_state(request)

    def work() -> None:
        try:
            push_processing.process_pending(state.engine, state.settings)
        except Exception:
            log.exception("handling the push of an applied suggestion failed; the periodic sweep will retry")

    asyncio.get_running_loop().run_in_executor(None, work)


async def add_comment(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    settings = settings_of(request)
    mode = field(form, "mode", "single")
    reply_to = field(form, "in_reply_to")
    values = {
        "path": field(form, "path"),
        "side": field(form, "side", "right"),
        "line": field(form, "line"),
        "start_line": field(form, "start_line"),
        "commit_sha": field(form, "commit_sha"),
        "body": str(form.get("body") or ""),
    }

    def number(name: str) -> int | None:
        value = values[name]
        return int(value) if value.isdigit() else None

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "files")
        ref, pull = ctx["ref"], ctx["pull"]
        review_id = None
        if mode == "review":
            review = reviews.pending_review(session, actor, pull, create=True)
            assert review is not None
            review_id = review.id
        comment = review_comments.add_review_comment(
            session, actor, ref, pull, path=values["path"], line=number("line") or 0, side=values["side"],
            start_line=number("start_line"), body=values["body"], commit_sha=values["commit_sha"],
            in_reply_to=int(reply_to) if reply_to.isdigit() else None, review_id=review_id,
            git=repos.open_git(settings.repos_dir, ref))
        return f"{_back(form, ctx['pull_url'] + '/files')}#thread-{comment.thread_id}"

    await run_db(request, lambda s: pull_base_context(s, request, "files"))
    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        return await files_page(request, exc, values)
    message = N_("Comment added to your review.") if mode == "review" else ""
    return redirect(request, url, message)


async def submit_review(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    verdict = VERDICT_BY_NAME.get(field(form, "verdict"), "")
    body = str(form.get("body") or "")
    discard = field(form, "discard") == "1"

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "files")
        if discard:
            reviews.discard_pending(session, actor, ctx["pull"])
        else:
            reviews.submit_review(session, actor, ctx["ref"], ctx["pull"], state=verdict, body=body)
        return str(ctx["pull_url"])

    url = await run_db(request, lambda s: str(pull_base_context(s, request, "files")["pull_url"]))
    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        if field(form, "back").endswith("/files"):
            return await files_page(request, exc, {"review_body": body})
        return redirect(request, url, exc.message, "error", **exc.params)
    if discard:
        return redirect(request, url + "/files", N_("Your pending review was discarded."))
    return redirect(request, url, N_("Your review was submitted."))


async def resolve(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    thread_id = int(request.path_params["thread"])
    resolved = field(form, "resolved") != "0"

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "files")
        review_comments.resolve_thread(session, actor, ctx["ref"], ctx["pull"], thread_id, resolved)
        return f"{_back(form, ctx['pull_url'] + '/files')}#thread-{thread_id}"

    return await act_on_pull(request, work, "", tab="files")


async def apply(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    settings = settings_of(request)
    comment_id = int(request.path_params["comment"])

    def work(session: Session) -> tuple[str, str]:
        ctx = pull_base_context(session, request, "files")
        sha = suggestions.apply_suggestion(session, settings, actor, ctx["ref"], ctx["pull"], comment_id)
        return f"{_back(form, ctx['pull_url'] + '/files')}", sha

    url = await run_db(request, lambda s: str(pull_base_context(s, request, "files")["pull_url"]) + "/files")
    try:
        url, sha = await run_db(request, work)
    except ForgeError as exc:
        return redirect(request, _back(form, url), exc.message, "error", **exc.params)
    _kick_push_processing(request)
    return redirect(request, url, N_("Suggestion applied in %(sha)s."), sha=sha[:10])


async def mark_viewed(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    path = field(form, "path")
    blob = field(form, "blob")
    is_viewed = field(form, "viewed") == "1"

    def work(session: Session) -> str:
        ctx = pull_base_context(session, request, "files")
        viewed.set_viewed(session, actor, ctx["pull"], path, blob, is_viewed)
        return f"{_back(form, ctx['pull_url'] + '/files')}"

    url = await act_on_pull(request, work, "", tab="files")
    if request.headers.get("x-requested-with") == "fetch":
        return Response(status_code=204)
    return url


_R = "/{owner}/{repo}/pulls/{number:int}"

routes: list[BaseRoute] = [
    Route(_R + "/files", files_page, methods=["GET"], name="pull_files"),
    Route(_R + "/files/comments", add_comment, methods=["POST"], name="pull_review_comment"),
    Route(_R + "/files/viewed", mark_viewed, methods=["POST"], name="pull_file_viewed"),
    Route(_R + "/reviews", submit_review, methods=["POST"], name="pull_review_submit"),
    Route(_R + "/threads/{thread:int}/resolve", resolve, methods=["POST"], name="pull_thread_resolve"),
    Route(_R + "/comments/{comment:int}/apply", apply, methods=["POST"], name="pull_suggestion_apply"),
    Route(_R + "/comments/{comment:int}/edit", edit_comment, methods=["POST"], name="pull_review_comment_edit"),
    Route(_R + "/comments/{comment:int}/delete", delete_comment, methods=["POST"], name="pull_review_comment_delete"),
]
