"""Code browsing: directory listings, file views and raw file downloads at any branch, tag or commit.

The repository is looked up with the reader's access first, so a private repository is a plain 404 on every one
of these pages, raw downloads included. Raw responses are served with ``nosniff`` and a sandboxing CSP: a pushed
HTML or SVG file must never run script on the forge's origin.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from forge.errors import NotFound
from forge.git import archive as archives
from forge.git import trees
from forge.git.repository import GitRepo, TreeEntry
from forge.git.service import GitServiceConfig
from forge.i18n import N_
from forge.markup import highlight_css, highlight_lines, is_markdown, render_markdown
from forge.repos import services as repos
from forge.repos.services import RepoRef
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


def code_url(full_name: str, view: str, ref: str, path: str = "") -> str:
    """``/<owner>/<repo>/<view>/<ref>/<path>`` with each part percent-encoded but its "/" kept."""
    url = f"/{full_name}/{view}/{quote(ref, safe='/')}"
    return f"{url}/{quote(path, safe='/')}" if path else url


@dataclass(frozen=True)
class EntryRow:
    entry: TreeEntry
    url: str


def entry_rows(full_name: str, ref: str, directory: str, entries: list[TreeEntry]) -> list[EntryRow]:
    """Entries with the page each opens: directories open as trees, everything else as a file view."""
    rows = []
    for entry in entries:
        path = f"{directory}/{entry.name}" if directory else entry.name
        rows.append(EntryRow(entry, code_url(full_name, "tree" if entry.kind == "tree" else "blob", ref, path)))
    return rows


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


def _ref_menu(git: GitRepo, full_name: str, view: str, path: str) -> dict[str, list[tuple[str, str]]]:
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
        **_ref_menu(git, ref.full_name, view, loc.path),
    )
    return ctx


async def tree_page(request: Request) -> Response:
    ctx, git, loc = await _open(request)
    full_name = ctx["ref"].full_name

    def load() -> dict[str, Any] | str:
        kind = trees.path_kind(git, loc)
        if kind != "tree":
            return code_url(full_name, "blob", loc.ref, loc.path)
        entries = trees.list_tree(git, loc)
        page = _page_ctx(ctx, git, loc, "tree")
        page["rows"] = entry_rows(full_name, loc.ref, loc.path, entries)
        page["parent_url"] = code_url(full_name, "tree", loc.ref, loc.parent) if loc.path else None
        page.update(readme_html(git, full_name, loc, entries))
        return page

    result = await run_in_threadpool(load)
    if isinstance(result, str):
        return RedirectResponse(result, status_code=302)
    return render(request, "repo/tree.html", result)


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


async def blob_page(request: Request) -> Response:
    ctx, git, loc = await _open(request)
    full_name = ctx["ref"].full_name
    plain = request.query_params.get("plain") == "1"

    def load() -> dict[str, Any] | str:
        if trees.path_kind(git, loc) == "tree":
            return code_url(full_name, "tree", loc.ref, loc.path)
        info = trees.read_file(git, loc)
        page = _page_ctx(ctx, git, loc, "blob")
        raw_url = code_url(full_name, "raw", loc.ref, loc.path)
        page.update(
            file=info,
            raw_url=raw_url,
            download_url=raw_url + "?download=1",
            blob_url=code_url(full_name, "blob", loc.ref, loc.path),
            history_url=code_url(full_name, "commits", loc.ref, loc.path),
            size=_size_parts(info.size),
            mode="text",
            plain=plain,
        )
        extension = posixpath.splitext(info.name.lower())[1]
        if info.kind == "commit":
            page["mode"] = "submodule"
        elif info.kind == "link":
            page["mode"] = "link"
            page["link_url"] = _symlink_url(full_name, loc, info.link_target or "")
        elif extension in IMAGE_TYPES:
            page["mode"] = "image"
        elif info.too_large:
            page["mode"] = "too_large"
        elif info.is_binary:
            page["mode"] = "binary"
        elif is_markdown(info.name) and not plain:
            page["mode"] = "markdown"
            base = code_url(full_name, "blob", loc.ref, loc.parent) + "/"
            page["rendered"] = render_markdown(
                info.text(), link_base=base, image_base=code_url(full_name, "raw", loc.ref, loc.parent) + "/"
            )
        else:
            page["lines"] = highlight_lines(info.name, info.text())
        page["is_markdown"] = is_markdown(info.name)
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
    Route(_R + "/blob/{rest:path}", blob_page, methods=["GET"], name="repo_blob"),
    Route(_R + "/raw/{rest:path}", raw_file, methods=["GET"], name="repo_raw"),
    Route(_R + "/archive/{rest:path}", archive, methods=["GET"], name="repo_archive"),
]
