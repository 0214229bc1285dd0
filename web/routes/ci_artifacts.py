"""Job artifact pages: download the archive, browse it file by file, keep or delete it, GitLab's "latest artifacts
of a ref" URLs, and the repository's artifacts and caches page.

Every page looks the repository up for the viewer first, so a private repository's artifacts are a plain 404 to
anyone without read access. Files from an archive are served like raw repository files (``nosniff`` and a
sandboxing CSP, see web/routes/repo_code.py): whatever a job put in its archive cannot run script as the forge.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ci import artifact_zip, artifacts, caches, pipelines, storage
from ci.models import Job
from ci.storage import StoredFile
from forge.errors import NotFound
from forge.i18n import N_
from forge.permissions import Access
from web.forms import read_form, redirect
from web.repo_context import repo_page_context
from web.routes.repo_code import IMAGE_TYPES, RAW_CSP
from web.state import require_user, run_db, settings_of
from web.templating import render

_R = "/{owner}/{repo}/-"


def _attachment(name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _job_ctx(session: Session, request: Request, needed: Access = Access.READ) -> tuple[dict[str, Any], Job]:
    ctx = repo_page_context(session, request, "ci", needed)
    job = pipelines.get_job(session, ctx["repo"], request.path_params["id"])
    return ctx, job


def _private_headers(ctx: dict[str, Any]) -> dict[str, str]:
    # Private content must not be kept by shared caches.
    return {"Cache-Control": "private, no-cache" if ctx["repo"].is_private else "no-cache"}


async def _open(request: Request, found: StoredFile) -> Any:
    store = storage.file_store(settings_of(request))
    try:
        return await run_in_threadpool(store.open, found.storage_key)
    except FileNotFoundError:  # expired and removed between the lookup and now
        raise NotFound(N_("These artifacts are no longer stored.")) from None


async def _send_archive(request: Request, ctx: dict[str, Any], found: StoredFile) -> Response:
    handle = await _open(request, found)
    headers = {"Content-Length": str(found.size), "Content-Disposition": _attachment(found.filename),
               "X-Content-Type-Options": "nosniff", **_private_headers(ctx)}
    return StreamingResponse(storage.read_chunks(handle), media_type="application/zip", headers=headers)


# --- one job's archive ----------------------------------------------------------------------------------------


async def download(request: Request) -> Response:
    def load(session: Session) -> tuple[dict[str, Any], StoredFile]:
        ctx, job = _job_ctx(session, request)
        return ctx, artifacts.readable_archive(session, job)

    ctx, found = await run_db(request, load)
    return await _send_archive(request, ctx, found)


def _content_type(path: str, head: bytes, is_symlink: bool) -> str:
    if is_symlink:
        return "text/plain; charset=utf-8"
    image = IMAGE_TYPES.get(posixpath.splitext(path.lower())[1])
    if image:
        return image
    return "application/octet-stream" if b"\x00" in head else "text/plain; charset=utf-8"


async def _raw_member(request: Request, ctx: dict[str, Any], found: StoredFile, path: str) -> Response:
    handle = await _open(request, found)
    member = await run_in_threadpool(artifact_zip.open_member, handle, path)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": RAW_CSP,
               "Content-Length": str(member.size), **_private_headers(ctx)}
    if request.query_params.get("download") == "1":
        headers["Content-Disposition"] = _attachment(posixpath.basename(path))
    return StreamingResponse(member.chunks, headers=headers,
                             media_type=_content_type(path, member.head, member.is_symlink))


async def browse(request: Request) -> Response:
    """A directory of the archive as a page; a file opens raw."""
    path = "/".join(p for p in str(request.path_params.get("path", "")).split("/") if p)

    def load(session: Session) -> tuple[dict[str, Any], StoredFile]:
        ctx, job = _job_ctx(session, request)
        ctx["job"] = job
        return ctx, artifacts.readable_archive(session, job)

    ctx, found = await run_db(request, load)
    handle = await _open(request, found)
    try:
        is_dir = await run_in_threadpool(artifact_zip.is_directory, handle, path)
        if is_dir:
            handle.seek(0)
            listing = await run_in_threadpool(artifact_zip.list_directory, handle, path)
    finally:
        handle.close()
    if not is_dir:
        return await _raw_member(request, ctx, found, path)
    parts = path.split("/") if path else []
    ctx.update(
        listing=listing,
        crumbs=[(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)],
        archive_size=found.size,
        download_name=found.filename,
        size_text=artifacts.human_size,
    )
    return render(request, "ci/artifacts_browse.html", ctx)


async def raw(request: Request) -> Response:
    """GitLab's ``/-/jobs/<id>/artifacts/raw/<path>``: one file of the archive."""
    path = str(request.path_params["path"])

    def load(session: Session) -> tuple[dict[str, Any], StoredFile]:
        ctx, job = _job_ctx(session, request)
        return ctx, artifacts.readable_archive(session, job)

    ctx, found = await run_db(request, load)
    return await _raw_member(request, ctx, found, path)


async def keep(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)

    def work(session: Session) -> str:
        ctx, job = _job_ctx(session, request)
        artifacts.keep(session, user, ctx["ref"], job)
        return f"/{ctx['ref'].full_name}/-/jobs/{job.id}"

    return redirect(request, await run_db(request, work), N_("The artifacts will be kept until deleted."))


async def erase(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)

    def work(session: Session) -> tuple[str, list[str]]:
        ctx, job = _job_ctx(session, request)
        keys = artifacts.erase(session, user, ctx["ref"], job)
        return f"/{ctx['ref'].full_name}/-/jobs/{job.id}", keys

    url, keys = await run_db(request, work)
    # After the commit: a rolled back delete must still find its files.
    await run_in_threadpool(artifacts.remove_files, storage.file_store(settings_of(request)), keys)
    return redirect(request, url, N_("The job's artifacts were deleted."))


# --- the latest artifacts of a branch or tag (GitLab's URLs) -------------------------------------------------


def _latest(request: Request) -> Any:
    name = request.query_params.get("job", "").strip()
    ref_name = str(request.path_params["ref"])

    def load(session: Session) -> tuple[dict[str, Any], StoredFile, int]:
        ctx = repo_page_context(session, request, "ci")
        if not name:
            raise NotFound(N_("Name the job: ?job=<job name>."))
        job = artifacts.latest_job_on_ref(session, ctx["repo"].id, ref_name, name)
        assert job.id is not None
        return ctx, artifacts.readable_archive(session, job), job.id

    return load


async def latest_download(request: Request) -> Response:
    ctx, found, _job_id = await run_db(request, _latest(request))
    return await _send_archive(request, ctx, found)


async def latest_raw(request: Request) -> Response:
    ctx, found, _job_id = await run_db(request, _latest(request))
    return await _raw_member(request, ctx, found, str(request.path_params["path"]))


async def latest_browse(request: Request) -> Response:
    ctx, _found, job_id = await run_db(request, _latest(request))
    path = str(request.path_params.get("path", ""))
    return RedirectResponse(f"/{ctx['ref'].full_name}/-/jobs/{job_id}/artifacts/browse/{quote(path)}",
                            status_code=302)


# --- the repository's artifacts and caches --------------------------------------------------------------------


async def repo_page(request: Request) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ctx = repo_page_context(session, request, "ci")
        rows, total, count = artifacts.repo_artifacts(session, ctx["repo"].id)
        ctx.update(artifact_rows=rows, artifacts_total=total, artifacts_count=count,
                   cache_summary=caches.repo_caches(session, ctx["repo"].id))
        return ctx

    ctx = await run_db(request, load)
    ctx["size_text"] = artifacts.human_size
    return render(request, "ci/artifacts_repo.html", ctx)


async def clear_caches(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)

    def work(session: Session) -> tuple[str, list[str]]:
        ctx = repo_page_context(session, request, "ci", Access.WRITE)
        return f"/{ctx['ref'].full_name}/-/artifacts", caches.clear(session, user, ctx["ref"])

    url, keys = await run_db(request, work)
    await run_in_threadpool(artifacts.remove_files, storage.file_store(settings_of(request)), keys)
    return redirect(request, url, N_("The runner caches of this repository were cleared."))


routes: list[BaseRoute] = [
    Route(_R + "/jobs/{id:int}/artifacts/download", download, methods=["GET"], name="ci_artifacts_download"),
    Route(_R + "/jobs/{id:int}/artifacts/browse", browse, methods=["GET"], name="ci_artifacts_browse_root"),
    Route(_R + "/jobs/{id:int}/artifacts/browse/{path:path}", browse, methods=["GET"], name="ci_artifacts_browse"),
    Route(_R + "/jobs/{id:int}/artifacts/raw/{path:path}", raw, methods=["GET"], name="ci_artifacts_raw"),
    Route(_R + "/jobs/{id:int}/artifacts/keep", keep, methods=["POST"], name="ci_artifacts_keep"),
    Route(_R + "/jobs/{id:int}/artifacts/delete", erase, methods=["POST"], name="ci_artifacts_delete"),
    Route(_R + "/jobs/artifacts/{ref:path}/download", latest_download, methods=["GET"], name="ci_artifacts_latest"),
    Route(_R + "/jobs/artifacts/{ref:path}/raw/{path:path}", latest_raw, methods=["GET"],
          name="ci_artifacts_latest_raw"),
    Route(_R + "/jobs/artifacts/{ref:path}/browse", latest_browse, methods=["GET"],
          name="ci_artifacts_latest_browse_root"),
    Route(_R + "/jobs/artifacts/{ref:path}/browse/{path:path}", latest_browse, methods=["GET"],
          name="ci_artifacts_latest_browse"),
    Route(_R + "/artifacts", repo_page, methods=["GET"], name="ci_artifacts_repo"),
    Route(_R + "/artifacts/caches/clear", clear_caches, methods=["POST"], name="ci_caches_clear"),
]
