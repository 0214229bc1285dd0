"""Code browsing: directory listings, file views and raw file downloads at any branch, tag or commit.

The repository is looked up with the reader's access first, so a private repository is a plain 404 on every one
of these pages, raw downloads included. Raw responses are served with ``nosniff`` and a sandboxing CSP: a pushed
HTML or SVG file must never run script on the forge's origin.
"""

from __future__ import annotations

import functools
import posixpath
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from forge.errors import NotFound
from forge.git import archive as archives
from forge.git import trees
from forge.git.counts import commit_count, is_capped
from forge.git.languages import languages
from forge.git.last_commits import LastCommits, last_commits
from forge.git.repository import CommitInfo, GitRepo, TreeEntry
from forge.git.service import GitServiceConfig
from forge.i18n import N_
from forge.markup import highlight_css, highlight_lines, is_markdown, render_markdown
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web.i18n import fmt_ago, fmt_datetime
from web.repo_context import repo_page_context
from web.state import run_db, settings_of
from web.templating import render

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
# Nothing served raw may run script or load anything as the forge: "sandbox" gives the document an opaque origin.
RAW_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# How long a directory page's git work may take before it renders without the last commits still missing; the
# page's script (or the ?wait=1 link) gets the rest from /tree-commits.
LAST_COMMITS_WAIT_S = 0.4
# The most a single request spends on them, even when asked to wait: a pathological directory finishes over
# several requests (the walk resumes where the previous one stopped) instead of holding a worker for minutes.
LAST_COMMITS_MAX_S = 30.0
# Entries listed on a directory page, as on GitHub: a 25,000-file directory would otherwise be a 9 MiB page that
# browsers struggle to lay out. The rest are reachable through the file-name search the page links to.
MAX_LISTED = 1_000


def code_url(full_name: str, view: str, ref: str, path: str = "") -> str:
    """``/<owner>/<repo>/<view>/<ref>/<path>`` with each part percent-encoded but its "/" kept."""
    url = f"/{full_name}/{view}/{quote(ref, safe='/')}"
    return f"{url}/{quote(path, safe='/')}" if path else url


@dataclass(frozen=True)
class CommitCell:
    """What a listing row shows of an entry's last commit, formatted once per commit (not once per row)."""

    sha: str
    url: str
    summary: str
    ago: str
    date: str
    iso: str

    @functools.cached_property
    def html(self) -> Markup:
        # The two cells as markup, built once per commit: a 25,000-entry directory has few distinct commits, and
        # escaping and formatting them per row would be most of the page's rendering time.
        return Markup('<td class="last-commit"><a href="{}">{}</a></td><td class="age"><time datetime="{}" '
                      'title="{}">{}</time></td>').format(self.url, self.summary, self.iso, self.date, self.ago)


@dataclass(frozen=True)
class EntryRow:
    entry: TreeEntry
    url: str
    commit: CommitCell | None = None


def commit_cells(full_name: str, last: LastCommits) -> dict[str, CommitCell]:
    """Entry name -> its last commit's cell; many entries share a commit, so each is formatted once."""
    cells: dict[str, CommitCell] = {}
    by_sha: dict[str, CommitCell] = {}
    for name, info in last.commits.items():
        cell = by_sha.get(info.sha)
        if cell is None:
            cell = by_sha[info.sha] = _cell(full_name, info)
        cells[name] = cell
    return cells


def _cell(full_name: str, info: CommitInfo) -> CommitCell:
    when: datetime = info.committer.when
    return CommitCell(info.sha, f"/{full_name}/commit/{info.sha}", info.summary, fmt_ago(when), fmt_datetime(when),
                      when.isoformat())


def entry_rows(full_name: str, ref: str, directory: str, entries: list[TreeEntry],
               cells: dict[str, CommitCell] | None = None) -> list[EntryRow]:
    """Entries with the page each opens (directories open as trees, everything else as a file view) and, when
    known, the last commit that changed them."""
    cells = cells or {}
    trees_url = code_url(full_name, "tree", ref, directory) + "/"
    blobs_url = code_url(full_name, "blob", ref, directory) + "/"
    return [EntryRow(entry, (trees_url if entry.kind == "tree" else blobs_url) + quote(entry.name, safe=""),
                     cells.get(entry.name)) for entry in entries]


def find_last_commits(git: GitRepo, loc: trees.Location, wait: bool, started: float) -> LastCommits:
    """The last commits of the directory at ``loc``. The page's git work began at ``started`` (a
    ``time.monotonic()`` instant): without ``wait`` the page spends at most LAST_COMMITS_WAIT_S on git before it
    renders, this included."""
    budget = LAST_COMMITS_MAX_S if wait else LAST_COMMITS_WAIT_S
    return last_commits(git, loc.commit.sha, loc.path, deadline=started + budget)


def listing_context(full_name: str, loc: trees.Location, entries: list[TreeEntry], last: LastCommits,
                    page_url: str) -> dict[str, Any]:
    """What repo/file_list.html needs besides the README: the rows, and how to get missing last commits
    (``page_url``, already percent-encoded, is reloaded with ?wait=1 when there is no script)."""
    shown = entries[:MAX_LISTED]
    return {
        "rows": entry_rows(full_name, loc.ref, loc.path, shown, commit_cells(full_name, last)),
        "omitted": len(entries) - len(shown),
        "find_url": f"/{full_name}/search?" + urlencode({"type": "files", "ref": loc.ref,
                                                          "q": loc.path + "/" if loc.path else ""}),
        "commits_complete": last.complete,
        "commits_url": code_url(full_name, "tree-commits", loc.ref, loc.path),
        "wait_url": page_url + "?wait=1",
    }


def readme_html(git: GitRepo, full_name: str, loc: trees.Location, entries: list[TreeEntry]) -> dict[str, Any]:
    """The README of the directory at ``loc`` as ``{"readme_name", "readme_html" | "readme_text"}``, or {}."""
    entry = trees.find_readme(entries)
    if entry is None:
        return {}
    path = f"{loc.path}/{entry.name}" if loc.path else entry.name
    info = trees.read_file(git, trees.Location(loc.ref, loc.commit, path))
    if info.data is None or info.is_binary:
        return {}
    if not is_markdown(entry.name):
        return {"readme_name": entry.name, "readme_text": info.text()}
    base = loc.path + "/" if loc.path else ""
    return {
        "readme_name": entry.name,
        "readme_html": render_markdown(
            info.text(),
            link_base=code_url(full_name, "blob", loc.ref, base) + ("" if base else "/"),
            image_base=code_url(full_name, "raw", loc.ref, base) + ("" if base else "/"),
        ),
    }


def _lookup(session: Session, request: Request) -> dict[str, Any]:
    return repo_page_context(session, request, "code")


async def _open(request: Request) -> tuple[dict[str, Any], GitRepo, trees.Location]:
    ctx = await run_db(request, lambda s: _lookup(s, request))
    git = repos.open_git(settings_of(request).repos_dir, ctx["ref"])
    loc = await run_in_threadpool(trees.resolve, git, request.path_params["rest"])
    return ctx, git, loc


def _breadcrumb(full_name: str, loc: trees.Location) -> list[tuple[str, str]]:
    crumbs = [(full_name.split("/", 1)[1], code_url(full_name, "tree", loc.ref))]
    parts = loc.path.split("/") if loc.path else []
    for i, part in enumerate(parts):
        crumbs.append((part, code_url(full_name, "tree", loc.ref, "/".join(parts[: i + 1]))))
    return crumbs


def ref_menu(git: GitRepo, full_name: str, view: str, path: str) -> dict[str, list[tuple[str, str]]]:
    """Links to the same path on every branch and tag, for the ref menu (a plain list, so no script is needed)."""
    return {
        "branch_links": [(b.name, code_url(full_name, view, b.name, path)) for b in git.branches()],
        "tag_links": [(t.name, code_url(full_name, view, t.name, path)) for t in git.tags()],
    }


def _page_ctx(ctx: dict[str, Any], git: GitRepo, loc: trees.Location, view: str) -> dict[str, Any]:
    ref: RepoRef = ctx["ref"]
    ctx.update(
        loc=loc,
        commit=loc.commit,
        breadcrumb=_breadcrumb(ref.full_name, loc),
        highlight_css=highlight_css([".highlight", ".blob-code"]),
        **ref_menu(git, ref.full_name, view, loc.path),
    )
    return ctx


async def tree_page(request: Request) -> Response:
    ctx, git, loc = await _open(request)
    full_name = ctx["ref"].full_name
    wait = request.query_params.get("wait") == "1"

    def load() -> dict[str, Any] | str:
        started = time.monotonic()
        kind = trees.path_kind(git, loc)
        if kind != "tree":
            return code_url(full_name, "blob", loc.ref, loc.path)
        entries = trees.list_tree(git, loc)
        page = _page_ctx(ctx, git, loc, "tree")
        page["parent_url"] = code_url(full_name, "tree", loc.ref, loc.parent) if loc.path else None
        page.update(readme_html(git, full_name, loc, entries))
        # Last, so that its deadline bounds the git work of the whole page.
        page["last"] = find_last_commits(git, loc, wait, started)
        page["entries"] = entries
        return page

    result = await run_in_threadpool(load)
    if isinstance(result, str):
        return RedirectResponse(result, status_code=302)
    # Dates are formatted here, in the request's own context, where the reader's language is set.
    page_url = code_url(full_name, "tree", loc.ref, loc.path)
    result.update(listing_context(full_name, loc, result.pop("entries"), result.pop("last"), page_url))
    return render(request, "repo/tree.html", result)


async def tree_commits(request: Request) -> Response:
    """``/tree-commits/<ref>/<path>``: the last commit of every entry of a directory, as JSON, for the script that
    fills in what the directory page did not wait for. Same access rules as the page (a hidden repository is 404)."""
    ctx, git, loc = await _open(request)
    full_name = ctx["ref"].full_name

    def load() -> LastCommits:
        if trees.path_kind(git, loc) != "tree":
            raise NotFound(N_("“%(path)s” is not a directory."), path=loc.path)
        return find_last_commits(git, loc, True, time.monotonic())

    last = await run_in_threadpool(load)
    cells = commit_cells(full_name, last)
    commits = {c.sha: {"url": c.url, "summary": c.summary, "ago": c.ago, "date": c.date, "iso": c.iso}
               for c in cells.values()}
    body = {"complete": last.complete, "entries": {name: c.sha for name, c in cells.items()}, "commits": commits}
    return JSONResponse(body, headers={"Cache-Control": "private, no-cache" if ctx["repo"].is_private else "no-cache"})


def _home_ref(git: GitRepo, default_branch: str) -> str | None:
    """The ref the home page shows: the default branch, else HEAD's branch, else any branch, else any tag."""
    for name in (default_branch, git.head_branch()):
        if name and git.has_branch(name):
            return name
    for refs in (git.branches(), git.tags()):
        if refs:
            return refs[0].name
    return None


def home_context(git: GitRepo, full_name: str, default_branch: str, wait: bool) -> dict[str, Any] | None:
    """The code part of the home page (run in a worker thread): the default branch's root listing with last
    commits (``entries`` and ``last``, for listing_context), README, ref menu, counts and languages. None when
    no branch or tag exists to show."""
    started = time.monotonic()
    rev = _home_ref(git, default_branch)
    if rev is None:
        return None
    loc = trees.resolve(git, rev)
    entries = trees.list_tree(git, loc)
    menu = ref_menu(git, full_name, "tree", "")
    counts = {
        "commits": commit_count(git, loc.commit.sha),
        "commits_capped": is_capped(commit_count(git, loc.commit.sha)),
        "commits_url": code_url(full_name, "commits", rev),
        "branches": len(menu["branch_links"]),
        "branches_url": f"/{full_name}/branches",
        "tags": len(menu["tag_links"]),
        "tags_url": f"/{full_name}/tags",
    }
    return {
        "loc": loc,
        "commit": loc.commit,
        "current_ref": rev,
        "counts": counts,
        "languages": languages(git, loc.commit.sha),
        "highlight_css": highlight_css([".highlight"]),
        **menu,
        **readme_html(git, full_name, loc, entries),
        "entries": entries,
        # Last, so that its deadline bounds the git work of the whole page.
        "last": find_last_commits(git, loc, wait, started),
    }


def _size_parts(size: int) -> tuple[str, str]:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}", unit
    return str(size), "bytes"


def _symlink_url(full_name: str, loc: trees.Location, target: str) -> str | None:
    # Only targets that stay inside the repository can be followed on the forge.
    joined = posixpath.normpath(posixpath.join(loc.parent, target))
    if target.startswith("/") or joined == ".." or joined.startswith("../"):
        return None
    return code_url(full_name, "blob", loc.ref, joined)


def file_page_context(ctx: dict[str, Any], git: GitRepo, loc: trees.Location, view: str) -> dict[str, Any] | str:
    """What every page about one file (the file view, blame) shows above its body: the code nav, the file's size
    and the links to its other views, and a first ``mode`` ("submodule", "link", "image", "too_large", "binary", or
    "" for a text file the page renders its own way). A directory is a redirect (the URL returned) to its tree."""
    full_name = ctx["ref"].full_name
    if trees.path_kind(git, loc) == "tree":
        return code_url(full_name, "tree", loc.ref, loc.path)
    info = trees.read_file(git, loc)
    page = _page_ctx(ctx, git, loc, view)
    raw_url = code_url(full_name, "raw", loc.ref, loc.path)
    page.update(
        file=info,
        view=view,
        raw_url=raw_url,
        download_url=raw_url + "?download=1",
        blob_url=code_url(full_name, "blob", loc.ref, loc.path),
        blame_url=code_url(full_name, "blame", loc.ref, loc.path),
        history_url=code_url(full_name, "commits", loc.ref, loc.path),
        size=_size_parts(info.size),
        is_markdown=is_markdown(info.name),
        mode="",
    )
    if info.kind == "commit":
        page["mode"] = "submodule"
    elif info.kind == "link":
        page["mode"] = "link"
        page["link_url"] = _symlink_url(full_name, loc, info.link_target or "")
    elif posixpath.splitext(info.name.lower())[1] in IMAGE_TYPES:
        page["mode"] = "image"
    elif info.too_large:
        page["mode"] = "too_large"
    elif info.is_binary:
        page["mode"] = "binary"
    return page


async def blob_page(request: Request) -> Response:
    ctx, git, loc = await _open(request)
    full_name = ctx["ref"].full_name
    plain = request.query_params.get("plain") == "1"

    def load() -> dict[str, Any] | str:
        page = file_page_context(ctx, git, loc, "blob")
        if isinstance(page, str):
            return page
        page["plain"] = plain
        if page["mode"]:
            return page
        info: trees.FileInfo = page["file"]
        if page["is_markdown"] and not plain:
            page["mode"] = "markdown"
            base = code_url(full_name, "blob", loc.ref, loc.parent) + "/"
            page["rendered"] = render_markdown(
                info.text(), link_base=base, image_base=code_url(full_name, "raw", loc.ref, loc.parent) + "/"
            )
        else:
            page["mode"] = "text"
            page["lines"] = highlight_lines(info.name, info.text())
        return page

    result = await run_in_threadpool(load)
    if isinstance(result, str):
        return RedirectResponse(result, status_code=302)
    return render(request, "repo/blob.html", result)


def _content_type(info: trees.FileInfo) -> str:
    if info.kind == "link":
        return "text/plain; charset=utf-8"
    image = IMAGE_TYPES.get(posixpath.splitext(info.name.lower())[1])
    if image:
        return image
    return "application/octet-stream" if info.is_binary else "text/plain; charset=utf-8"


def _attachment(name: str) -> str:
    # A plain ASCII fallback for old clients plus the exact UTF-8 name (RFC 6266); quotes and control characters
    # are replaced so the name cannot break out of the header value.
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def raw_file(request: Request) -> Response:
    ctx, git, loc = await _open(request)
    info = await run_in_threadpool(trees.read_file, git, loc, None)
    if info.kind == "commit":
        raise NotFound(N_("“%(path)s” is a submodule; its files live in another repository."), path=loc.path)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": RAW_CSP,
        # Private content must not be kept by shared caches.
        "Cache-Control": "private, no-cache" if ctx["repo"].is_private else "no-cache",
    }
    if request.query_params.get("download") == "1":
        headers["Content-Disposition"] = _attachment(info.name)
    return Response(info.data or b"", media_type=_content_type(info), headers=headers)


async def archive(request: Request) -> Response:
    """``/archive/<ref>.zip`` or ``.tar.gz``: the tree of a branch, tag or commit, streamed from git archive."""
    rest = request.path_params["rest"]
    fmt = next((f for f in archives.FORMATS if rest.endswith("." + f)), None)
    if fmt is None:
        raise NotFound(N_("Archives are available as .zip or .tar.gz."))
    name = rest[: -len(fmt) - 1]
    ctx = await run_db(request, lambda s: _lookup(s, request))
    settings = settings_of(request)
    git = repos.open_git(settings.repos_dir, ctx["ref"])
    loc = await run_in_threadpool(trees.resolve, git, name)
    if loc.path:
        raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=name)
    label = f"{ctx['repo'].name}-{loc.ref.replace('/', '-')}"
    config = GitServiceConfig(settings.git_bin, settings.hooks_dir, settings.home)
    headers = {
        "Content-Disposition": _attachment(f"{label}.{fmt}"),
        "Cache-Control": "private, no-cache" if ctx["repo"].is_private else "no-cache",
    }
    return StreamingResponse(
        archives.stream_archive(config, git.path, loc.commit.sha, fmt, label),
        media_type=archives.FORMATS[fmt],
        headers=headers,
    )


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/tree/{rest:path}", tree_page, methods=["GET"], name="repo_tree"),
    Route(_R + "/tree-commits/{rest:path}", tree_commits, methods=["GET"], name="repo_tree_commits"),
    Route(_R + "/blob/{rest:path}", blob_page, methods=["GET"], name="repo_blob"),
    Route(_R + "/raw/{rest:path}", raw_file, methods=["GET"], name="repo_raw"),
    Route(_R + "/archive/{rest:path}", archive, methods=["GET"], name="repo_archive"),
]
