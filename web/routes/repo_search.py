"""Searching: file names and contents within a repository.

``/<owner>/<repo>/search?q=...&ref=...&type=code|files`` searches one branch, tag or commit (the default branch
unless ``ref`` says otherwise). The repository is looked up for the reader first, so a hidden repository is a
plain 404 and nothing about its contents can be learnt from here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.errors import NotFound
from forge.git import search, trees
from forge.git.service import GitServiceConfig
from forge.i18n import N_
from forge.repos import services as repos
from web.repo_context import repo_page_context
from web.routes.repo_code import code_url
from web.state import run_db, settings_of
from web.templating import render

TYPES = ("code", "files")


def _ctx(session: Session, request: Request) -> dict[str, Any]:
    return repo_page_context(session, request, "code")


async def search_page(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    params = request.query_params
    query = search.clean_query(params.get("q", ""))
    kind = params.get("type", "code")
    if kind not in TYPES:
        kind = "code"
    ref_name = params.get("ref", "").strip() or ctx["repo"].default_branch
    full_name = ctx["ref"].full_name
    settings = settings_of(request)
    git = repos.open_git(settings.repos_dir, ctx["ref"])
    config = GitServiceConfig(settings.git_bin, settings.hooks_dir, settings.home)
    ctx.update(q=query, kind=kind, search_ref=ref_name, min_query=search.MIN_QUERY, max_query=search.MAX_QUERY)
    ctx["type_urls"] = {
        t: f"/{full_name}/search?" + urlencode({"q": query, "ref": ref_name, "type": t}) for t in TYPES
    }

    def load() -> dict[str, Any]:
        if git.is_empty:
            return {"empty": True}
        page: dict[str, Any] = {
            "branch_names": [b.name for b in git.branches()],
            "tag_names": [t.name for t in git.tags()],
        }
        loc = trees.resolve(git, ref_name)
        if loc.path:
            # "main/src" names a directory on a branch, not a ref; searching is per ref only.
            raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=ref_name)
        page["commit"] = loc.commit
        if not query or len(query) < search.MIN_QUERY or len(query) > search.MAX_QUERY:
            return page
        if kind == "files":
            found = search.find_paths(config, git, loc.commit.sha, query)
            page["path_results"] = found
            page["path_urls"] = {m.path: code_url(full_name, "blob", loc.ref, m.path) for m in found.matches}
        else:
            grep = search.grep(config, git, loc.commit.sha, query)
            page["grep_results"] = grep
            page["file_urls"] = {f.path: code_url(full_name, "blob", loc.ref, f.path) for f in grep.files}
        return page

    ctx.update(await run_in_threadpool(load))
    status = 200
    if query and len(query) < search.MIN_QUERY:
        ctx["query_error"] = "short"
        status = 422
    elif len(query) > search.MAX_QUERY:
        ctx["query_error"] = "long"
        status = 422
    return render(request, "repo/search.html", ctx, status=status)


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/search", search_page, methods=["GET"], name="repo_search"),
]
