"""Commit history of a branch, tag or commit (optionally of one path, following a file across renames) and the
commit page with its diff and the branches and tags that contain it.

The repository is looked up first through get_visible_repo, so a hidden repository is a plain 404 before any git
object is read; git reading runs in a worker thread because large histories and diffs take real time.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ci import pipelines
from ci.models import CONFIG_ERROR
from forge.git.history import History
from forge.repos import services as repos
from forge.repos import statuses as commit_statuses
from web.diffs import diff_context, diff_options
from web.repo_context import repo_page_context
from web.state import run_db, settings_of
from web.templating import render


def _ctx(session: Session, request: Request) -> dict[str, Any]:
    return repo_page_context(session, request, "commits")


def _page_number(request: Request) -> int:
    try:
        return max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        return 1


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path so far) for each segment, so each part of the path can link to its own history."""
    parts = path.split("/") if path else []
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


async def commits_default(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    url = f"/{ctx['ref'].full_name}/commits/{ctx['repo'].default_branch}"
    return RedirectResponse(url, status_code=302)


async def commits_page(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    git = repos.open_git(settings_of(request).repos_dir, ctx["ref"])
    spec = request.path_params["spec"]
    page = _page_number(request)

    def load() -> dict[str, Any]:
        history = History(git)
        resolved = history.resolve(spec)
        # One file's history follows it across renames (git log --follow); a directory's does not.
        follow = history.is_file(resolved.commit.sha, resolved.path)
        return {
            "resolved": resolved,
            "history": history.log(resolved.commit.sha, path=resolved.path, page=page, follow=follow),
            "crumbs": _crumbs(resolved.path),
            "followed": follow,
        }

    ctx.update(await run_in_threadpool(load))
    shas = [c.sha for c in ctx["history"].commits]
    ctx["commit_statuses"] = await run_db(request, lambda s: commit_statuses.combined_for(s, ctx["repo"].id, shas))
    return render(request, "repo/commits.html", ctx)


async def commit_page(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    git = repos.open_git(settings_of(request).repos_dir, ctx["ref"])
    sha = request.path_params["sha"]
    options = diff_options(request)
    default_branch = ctx["repo"].default_branch

    def load() -> dict[str, Any]:
        history = History(git)
        commit = history.commit(sha)
        diff = history.diff(commit.sha, ignore_whitespace=options.ignore_whitespace, path=options.file)
        return {
            "commit": commit,
            "containment": history.containing_refs(commit.sha, default_branch),
            **diff_context(request, diff, options),
        }

    ctx.update(await run_in_threadpool(load))
    ctx.update(await run_db(request, lambda s: _commit_ci(s, ctx["repo"].id, ctx["commit"].sha)))
    return render(request, "repo/commit.html", ctx)


def _commit_ci(session: Session, repo_id: int, sha: str) -> dict[str, Any]:
    """The commit's statuses and the errors of its pipelines whose file could not be read."""
    return {
        "statuses": commit_statuses.list_for(session, repo_id, sha),
        "config_error_pipelines": [p for p in pipelines.pipelines_for_sha(session, repo_id, sha, limit=5)
                                   if p.status == CONFIG_ERROR],
    }


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/commits", commits_default, methods=["GET"], name="repo_commits_default"),
    # One path parameter: where the ref ends and the file path begins is only known by looking at the refs.
    Route(_R + "/commits/{spec:path}", commits_page, methods=["GET"], name="repo_commits"),
    Route(_R + "/commit/{sha:path}", commit_page, methods=["GET"], name="repo_commit"),
]
