"""Comparing two refs: the commits on head that base lacks and their combined diff.

``/compare`` shows a form (a GET form: without script it submits ``?base=&head=&mode=``, which is redirected to
the canonical URL); ``/compare/<base>...<head>`` and ``/compare/<base>..<head>`` show a comparison; a spec
without dots compares against the default branch, as on GitHub. The repository is looked up for the viewer first,
so a private repository is a plain 404 before any git object is read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.git import compare as comparing
from forge.git.repository import GitRepo
from forge.repos import services as repos
from web.diffs import diff_context, diff_options
from web.repo_context import repo_page_context
from web.state import run_db, settings_of
from web.templating import render

MAX_TAG_SUGGESTIONS = 100


def _ctx(session: Session, request: Request) -> dict[str, Any]:
    return repo_page_context(session, request, "commits")


def compare_url(full_name: str, base: str, head: str, three_dot: bool = True) -> str:
    operator = "..." if three_dot else ".."
    return f"/{full_name}/compare/{quote(base, safe='/')}{operator}{quote(head, safe='/')}"


def _suggestions(git: GitRepo) -> dict[str, Any]:
    """Branch and tag names for the form's suggestion list (the inputs also take any commit id)."""
    return {
        "branch_names": [b.name for b in git.branches()],
        "tag_names": [t.name for t in git.tags()[:MAX_TAG_SUGGESTIONS]],
    }


async def compare_form(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    full_name = ctx["ref"].full_name
    q = request.query_params
    base, head = q.get("base", "").strip(), q.get("head", "").strip()
    if base and head:
        return RedirectResponse(compare_url(full_name, base, head, q.get("mode") != "two"), status_code=302)
    git = repos.open_git(settings_of(request).repos_dir, ctx["ref"])
    suggestions = await run_in_threadpool(_suggestions, git)
    default = ctx["repo"].default_branch
    if not head:
        # The branch most likely meant: the first one that is not the default.
        head = next((b for b in suggestions["branch_names"] if b != default), "")
    ctx.update(suggestions, form_base=base or default, form_head=head, three_dot=True, comparison=None)
    return render(request, "repo/compare.html", ctx)


async def compare_page(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    full_name = ctx["ref"].full_name
    spec = request.path_params["spec"]
    if ".." not in spec:
        return RedirectResponse(compare_url(full_name, ctx["repo"].default_branch, spec), status_code=302)
    base, head, three_dot = comparing.parse_spec(spec)
    git = repos.open_git(settings_of(request).repos_dir, ctx["ref"])
    options = diff_options(request)

    def load() -> dict[str, Any]:
        comparison = comparing.compare(git, base, head, three_dot=three_dot,
                                       ignore_whitespace=options.ignore_whitespace, path=options.file)
        return {
            "comparison": comparison,
            "swap_url": compare_url(full_name, head, base, three_dot),
            "mode_url": compare_url(full_name, base, head, not three_dot),
            "max_commits": comparing.MAX_COMMITS,
            **_suggestions(git),
            **diff_context(request, comparison.diff, options),
        }

    ctx.update(await run_in_threadpool(load))
    ctx.update(form_base=base, form_head=head, three_dot=three_dot)
    return render(request, "repo/compare.html", ctx)


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/compare", compare_form, methods=["GET"], name="repo_compare_form"),
    # One path parameter: ref names may contain "/" and ".", so the sides are split by looking for the dots.
    Route(_R + "/compare/{spec:path}", compare_page, methods=["GET"], name="repo_compare"),
]
