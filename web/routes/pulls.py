"""Pull request list and new pull request pages: the filtered list of a repository's pull requests, and the
compare-and-open form (choosing base and head, previewing the comparison, opening).

The pull request's own tabs are web.routes.pull_conversation, web.routes.pull_files and web.routes.pull_merge.
Handlers stay thin: the rules are in forge.pulls.services.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.errors import ForgeError, InvalidInput, NotFound
from forge.git import compare as comparing
from forge.git.repository import GitRepo
from forge.i18n import N_
from forge.issues import models as im
from forge.pulls import gitops, reviews
from forge.pulls import services as pulls
from forge.repos import services as repos
from forge.repos import statuses as commit_statuses
from forge.repos.services import RepoRef
from web.diffs import diff_context, diff_options
from web.forms import checkbox, field, read_form, redirect
from web.pull_context import int_ids, user_ids_named
from web.repo_context import repo_page_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

# --- list --------------------------------------------------------------------------------------------------


async def list_page(request: Request) -> Response:
    q = request.query_params
    viewer = current_user(request)
    state = q.get("state", pulls.STATE_OPEN)
    if state not in pulls.STATES:
        state = pulls.STATE_OPEN
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    label_id = int(q["label"]) if q.get("label", "").isdigit() else None
    review_requested = q.get("review") == "requested"
    reviewed = q.get("review") == "reviewed"
    author = q.get("author", "").strip()
    query = q.get("q", "").strip()

    def load(session: Session) -> dict[str, Any]:
        from forge.issues import metadata

        ctx = repo_page_context(session, request, "pulls")
        ref: RepoRef = ctx["ref"]
        me = viewer.id if viewer is not None and viewer.id is not None else -1
        result = pulls.list_pulls(
            session, ref, state=state, author=author, label_id=label_id,
            review_requested_id=me if review_requested else None, reviewed_by_id=me if reviewed else None,
            query=query, page=page)
        shas = [row.pull.head_sha for row in result.items if row.pull.head_sha]
        ctx.update(
            result=result,
            ci=commit_statuses.combined_for(session, ref.repo.id, shas),  # type: ignore[arg-type]
            labels=metadata.available_labels(session, ref),
            requested_counts=reviews.request_counts(session, [row.pull for row in result.items]),
        )
        return ctx

    ctx = await run_db(request, load)
    filters = {"state": state, "author": author, "label": str(label_id or ""), "q": query,
               "review": q.get("review", "")}

    def url(**changes: Any) -> str:
        params = {**filters, **{k: str(v) for k, v in changes.items()}}
        params = {k: v for k, v in params.items() if v and not (k == "state" and v == pulls.STATE_OPEN)}
        query_string = urlencode(params)
        return f"/{ctx['ref'].full_name}/pulls" + (f"?{query_string}" if query_string else "")

    ctx.update(filters=filters, list_url=url, state=state)
    return render(request, "pulls/list.html", ctx)


# --- new pull request --------------------------------------------------------------------------------------


async def _new_page(request: Request, form: dict[str, Any] | None = None, error: ForgeError | None = None) -> Response:
    q = request.query_params
    viewer = current_user(request)
    options = diff_options(request)
    settings = settings_of(request)
    values = form or {}

    def load(session: Session) -> dict[str, Any]:
        from forge.issues import access, metadata

        ctx = repo_page_context(session, request, "pulls")
        ref: RepoRef = ctx["ref"]
        base_branch = values.get("base") or q.get("base", "").strip() or ref.repo.default_branch
        head_spec = values.get("head") or q.get("head", "").strip()
        candidates = pulls.head_repositories(session, viewer, ref)
        ctx["head_choices"] = [(c, repos.open_git(settings.repos_dir, c).branches()) for c in candidates]
        ctx["base_branches"] = [b.name for b in repos.open_git(settings.repos_dir, ref).branches()]
        head_ref: RepoRef | None = None
        head_branch = ""
        if head_spec:
            head_ref, head_branch = pulls.resolve_head(session, viewer, ref, head_spec)
        ctx.update(base_branch=base_branch, head_spec=head_spec, head_ref=head_ref, head_branch=head_branch)
        triage = viewer is not None and access.can_triage(session, viewer, ref)
        ctx["can_triage"] = triage
        ctx["reviewer_choices"] = metadata.assignable_users(session, ref) if viewer is not None else []
        if triage:
            ctx["labels"] = metadata.available_labels(session, ref)
            ctx["milestones"] = metadata.milestones_of_repo(session, ref)
            ctx["assignable"] = metadata.assignable_users(session, ref)
        if head_ref is not None and head_branch:
            duplicate = pulls.find_open_duplicate(session, ref, base_branch, head_ref.repo.id or 0, head_branch)
            ctx["duplicate"] = duplicate
        return ctx

    ctx = await run_db(request, load)
    ctx.update(form=values, error=error, comparison=None)
    head_ref, head_branch = ctx["head_ref"], ctx["head_branch"]
    if head_ref is not None and head_branch:
        base_git = repos.open_git(settings.repos_dir, ctx["ref"])

        def compare() -> dict[str, Any]:
            return _comparison(request, base_git, head_ref, ctx["ref"], ctx["base_branch"], head_branch, options)

        ctx.update(await run_in_threadpool(compare))
        if not values.get("title") and ctx.get("comparison") is not None:
            c = ctx["comparison"]
            values["title"] = c.commits[0].summary if c.total_commits == 1 else _branch_title(head_branch)
            if c.total_commits == 1 and not values.get("body"):
                values["body"] = c.commits[0].message.partition("\n")[2].strip()
    # The repository was found before: a NotFound now is about a branch or fork the form named.
    status = 200 if error is None else 422 if isinstance(error, NotFound) else error.status
    return render(request, "pulls/new.html", ctx, status=status)


def _branch_title(branch: str) -> str:
    """GitHub's title for a head of several commits: the branch name, dashes and underscores as spaces."""
    name = branch.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ").strip()
    return name[:1].upper() + name[1:] if name else branch


def _comparison(request: Request, base_git: Any, head_ref: RepoRef, ref: RepoRef, base_branch: str,
                head_branch: str, options: Any) -> dict[str, Any]:
    """The comparison the form shows: base branch ... head branch, in the base repository (a fork's head commits
    are made available there first; the objects are harmless and opening the pull request copies them anyway)."""
    settings = settings_of(request)
    head_git = repos.open_git(settings.repos_dir, head_ref)
    base_sha = base_git.ref_target(f"refs/heads/{base_branch}")
    head_sha = head_git.ref_target(f"refs/heads/{head_branch}")
    if base_sha is None:
        return {"compare_error": InvalidInput(N_("There is no branch “%(name)s” to merge into."), name=base_branch)}
    if head_sha is None:
        return {"compare_error": InvalidInput(N_("There is no branch “%(name)s” to merge from."), name=head_branch)}
    if head_ref.repo.id != ref.repo.id:
        gitops.transfer(head_git, base_git, head_sha, git_bin=settings.git_bin)
        base_git = GitRepo(base_git.path)
    try:
        comparison = comparing.compare(base_git, base_sha, head_sha, three_dot=True,
                                       ignore_whitespace=options.ignore_whitespace, path=options.file)
    except ForgeError as exc:
        return {"compare_error": exc}
    return {"comparison": comparison, "max_commits": comparing.MAX_COMMITS,
            **diff_context(request, comparison.diff, options)}


async def new_page(request: Request) -> Response:
    return await _new_page(request)


async def create(request: Request) -> Response:
    form = await read_form(request)
    actor = require_user(request)
    settings = settings_of(request)
    values: dict[str, Any] = {
        "base": field(form, "base"),
        "head": field(form, "head"),
        "title": field(form, "title"),
        "body": str(form.get("body") or ""),
        "draft": checkbox(form, "draft"),
        "reviewers": field(form, "reviewers"),
        "label_ids": int_ids(form.getlist("label_ids")),
        "assignee_ids": int_ids(form.getlist("assignee_ids")),
        "milestone_id": field(form, "milestone_id"),
    }

    def work(session: Session) -> str:
        ref, _ = repos.get_visible_repo(session, actor, request.path_params["owner"], request.path_params["repo"])
        head_ref, head_branch = pulls.resolve_head(session, actor, ref, values["head"])
        reviewer_ids = user_ids_named(session, values["reviewers"])
        pull = pulls.open_pull(
            session, settings, actor, ref, base_branch=values["base"], head=head_ref, head_branch=head_branch,
            title=values["title"], body=values["body"], draft=values["draft"], reviewer_ids=reviewer_ids,
            label_ids=values["label_ids"], assignee_ids=values["assignee_ids"],
            milestone_id=int(values["milestone_id"]) if values["milestone_id"].isdigit() else None)
        issue = session.get(im.Issue, pull.issue_id)
        assert issue is not None
        return f"/{ref.full_name}/pulls/{issue.number}"

    # Look the repository up first: a hidden one is a 404, not a form error.
    await run_db(request, lambda s: repo_page_context(s, request, "pulls"))
    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        return await _new_page(request, values, exc)
    return redirect(request, url)


_R = "/{owner}/{repo}/pulls"

routes: list[BaseRoute] = [
    Route(_R, list_page, methods=["GET"], name="pulls_list"),
    Route(_R + "/new", new_page, methods=["GET"], name="pulls_new"),
    Route(_R + "/new", create, methods=["POST"], name="pulls_create"),
]
