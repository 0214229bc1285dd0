"""Blame: who last changed each line of a file, with a jump to the revision before.

The repository is looked up for the reader first (a hidden repository is a plain 404), then the ref and path are
resolved like the file page's. Only regular text files are blamed; directories redirect to their tree page, and
submodules, links, binary and very large files get the same notices as on the file page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.git import trees
from forge.git.blame import Blame, BlameHunk, blame_file
from forge.git.service import GitServiceConfig
from forge.markup import highlight_lines
from web.routes.repo_code import _open, code_url, file_page_context
from web.state import settings_of
from web.templating import render


@dataclass(frozen=True)
class HunkView:
    """A hunk with its lines as highlighted HTML, numbered, and the links the page shows for it."""

    hunk: BlameHunk
    lines: list[tuple[int, str]]
    commit_url: str
    previous_url: str | None


def _file_lines(name: str, text: str, count: int) -> list[str]:
    """Highlighted lines, as many as git counted. Pygments also breaks lines at a lone carriage return, git does
    not; when the counts differ the lines are shown escaped but unhighlighted, split as git splits them."""
    lines = highlight_lines(name, text)
    if len(lines) == count:
        return lines
    plain = [str(escape(line)) for line in text.split("\n")]
    if text.endswith("\n"):
        plain.pop()
    return (plain + [""] * count)[:count]


def _hunk_views(full_name: str, blame: Blame, lines: list[str]) -> list[HunkView]:
    views = []
    for hunk in blame.hunks:
        previous = None
        if hunk.previous_sha and hunk.previous_path:
            previous = code_url(full_name, "blame", hunk.previous_sha, hunk.previous_path)
        numbered = [(n, lines[n - 1]) for n in range(hunk.start, hunk.end + 1)]
        views.append(HunkView(hunk, numbered, f"/{full_name}/commit/{hunk.commit.sha}", previous))
    return views


async def blame_page(request: Request) -> Response:
    ctx, git, loc = await _open(request)
    full_name = ctx["ref"].full_name
    settings = settings_of(request)
    config = GitServiceConfig(settings.git_bin, settings.hooks_dir, settings.home)

    def load() -> dict[str, Any] | str:
        page = file_page_context(ctx, git, loc, "blame")
        if isinstance(page, str):
            return page
        info: trees.FileInfo = page["file"]
        if page["mode"] == "image":
            # Blame has no image view: a binary image gets the binary notice, a text one (SVG) is blamed as text.
            page["mode"] = "too_large" if info.too_large else "binary" if info.is_binary else ""
        if page["mode"]:
            return page
        blame = blame_file(config, git, loc.commit.sha, loc.path)
        page["mode"] = "blame"
        page["line_count"] = blame.line_count
        page["hunks"] = _hunk_views(full_name, blame, _file_lines(info.name, info.text(), blame.line_count))
        return page

    result = await run_in_threadpool(load)
    if isinstance(result, str):
        return RedirectResponse(result, status_code=302)
    return render(request, "repo/blame.html", result)


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/blame/{rest:path}", blame_page, methods=["GET"], name="repo_blame"),
]
