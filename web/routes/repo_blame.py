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
from web.routes.repo_code import _open, _page_ctx, _size_parts, code_url
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
        if trees.path_kind(git, loc) == "tree":
            return code_url(full_name, "tree", loc.ref, loc.path)
        info = trees.read_file(git, loc)
        page = _page_ctx(ctx, git, loc, "blame")
        raw_url = code_url(full_name, "raw", loc.ref, loc.path)
        page.update(
            file=info,
            raw_url=raw_url,
            download_url=raw_url + "?download=1",
            blob_url=code_url(full_name, "blob", loc.ref, loc.path),
            history_url=code_url(full_name, "commits", loc.ref, loc.path),
            size=_size_parts(info.size),
        )
        if info.kind == "commit":
            page["mode"] = "submodule"
        elif info.kind == "link":
            page["mode"] = "link"
        elif info.too_large:
            page["mode"] = "too_large"
        elif info.is_binary:
            page["mode"] = "binary"
        else:
            blame = blame_file(config, git, loc.commit.sha, loc.path)
            text = info.text()
            page["mode"] = "blame"
            page["line_count"] = blame.line_count
            page["hunks"] = _hunk_views(full_name, blame, _file_lines(info.name, text, blame.line_count))
        return page

    result = await run_in_threadpool(load)
    if isinstance(result, str):
        return RedirectResponse(result, status_code=302)
    return render(request, "repo/blame.html", result)


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/blame/{rest:path}", blame_page, methods=["GET"], name="repo_blame"),
]
