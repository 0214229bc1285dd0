"""The runner protocol's file calls (docs/ci.md, "Runner protocol: files"): artifact uploads, dependency
downloads, and cache restore/save, all authenticated by the job's token while the job runs.

Bodies are streamed to a temporary file and never held in memory; the size limit is checked against the declared
``Content-Length`` first and again while receiving (413). Only a complete, checked upload is moved into place and
recorded, so a failed or refused upload leaves the earlier file untouched. Errors are the runner API's JSON
``{"error": ...}`` (see web/routes/ci_runner_api.py).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ci import artifact_zip, artifacts, caches, dispatch, storage
from ci.storage import FileStore, Spooled, StoredFile
from forge.errors import NotFound
from forge.i18n import N_
from web.routes.ci_runner_api import PREFIX, _api, _bearer, _error, _job_id
from web.state import run_db, settings_of


def _too_large(limit: int) -> Response:
    return _error(413, f"The upload is larger than the limit of {limit // (1024 * 1024)} MiB.", limit=limit)


def _declared_too_large(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def _receive(request: Request, store: FileStore, limit: int) -> Spooled | None:
    """The body in a temporary file, or None when it passed ``limit``."""
    if _declared_too_large(request, limit):
        return None
    try:
        return await storage.receive(store, request.stream(), limit)
    except storage.TooLarge:
        return None


async def _stream(store: FileStore, found: StoredFile) -> Response:
    try:
        handle = await run_in_threadpool(store.open, found.storage_key)
    except FileNotFoundError:  # removed by the clean-up after the row was read
        raise NotFound(N_("This file is no longer stored.")) from None
    return StreamingResponse(storage.read_chunks(handle), media_type="application/zip",
                             headers={"Content-Length": str(found.size),
                                      "Content-Disposition": f'attachment; filename="{found.filename}"'})


async def _put_file(store: FileStore, spooled: Spooled, key: str, check: Any = None) -> None:
    def work() -> None:
        if check is not None:
            check(spooled.path)
        store.put(key, spooled)

    await run_in_threadpool(work)


@_api
async def upload_artifact(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    settings = settings_of(request)
    params = request.query_params

    def check(session: Any) -> artifacts.UploadTarget:
        job = dispatch.authenticate_job(session, job_id, secret)
        return artifacts.upload_target(session, job, settings, params.get("type", artifacts.ARCHIVE),
                                       params.get("filename", ""), params.get("expire_in"))

    target = await run_db(request, check)
    store = storage.file_store(settings)
    spooled = await _receive(request, store, target.limit)
    if spooled is None:
        return _too_large(target.limit)
    key = ""
    try:
        data: bytes | None = None
        if target.file_type == artifacts.ARCHIVE:
            key = artifacts.storage_key_for(target)
            await _put_file(store, spooled, key, artifact_zip.check_archive)
        else:
            data = await run_in_threadpool(spooled.path.read_bytes)
        old = await run_db(request, lambda s: artifacts.record_upload(s, target, spooled, key, data))
    except BaseException:
        if key:
            store.delete(key)
        raise
    finally:
        spooled.discard()
    if old and old != key:
        await run_in_threadpool(store.delete, old)
    return JSONResponse({"size": spooled.size, "sha256": spooled.sha256}, status_code=201)


@_api
async def download_artifact(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    other_id: int = request.path_params["other_id"]

    def find(session: Any) -> StoredFile:
        job = dispatch.authenticate_job(session, job_id, secret)
        return artifacts.dependency_archive(session, job, other_id)

    found = await run_db(request, find)
    return await _stream(storage.file_store(settings_of(request)), found)


def _cache_target(request: Request, secret: str, job_id: int) -> Any:
    settings = settings_of(request)
    key = request.query_params.get("key", "")

    def check(session: Any) -> caches.CacheTarget:
        job = dispatch.authenticate_job(session, job_id, secret)
        return caches.cache_target(session, job, settings, key)

    return check


@_api
async def restore_cache(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    target = await run_db(request, _cache_target(request, secret, job_id))
    found = await run_db(request, lambda s: caches.lookup(s, target))
    return await _stream(storage.file_store(settings_of(request)), found)


@_api
async def save_cache(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    target = await run_db(request, _cache_target(request, secret, job_id))
    store = storage.file_store(settings_of(request))
    spooled = await _receive(request, store, target.limit)
    if spooled is None:
        return _too_large(target.limit)
    key = caches.storage_key_for(target)
    try:
        # A cache is extracted into the project directory by the next job, so it gets the same zip-slip check.
        await _put_file(store, spooled, key, artifact_zip.check_archive)
        old = await run_db(request, lambda s: caches.record(s, target, spooled, key))
    except BaseException:
        store.delete(key)
        raise
    finally:
        spooled.discard()
    if old and old != key:
        await run_in_threadpool(store.delete, old)
    return JSONResponse({"size": spooled.size, "key": target.key}, status_code=201)


routes: list[BaseRoute] = [
    Route(PREFIX + "/jobs/{job_id:int}/artifacts", upload_artifact, methods=["PUT"], name="runner_upload_artifact"),
    Route(PREFIX + "/jobs/{job_id:int}/artifacts/{other_id:int}", download_artifact, methods=["GET"],
          name="runner_download_artifact"),
    Route(PREFIX + "/jobs/{job_id:int}/cache", restore_cache, methods=["GET"], name="runner_restore_cache"),
    Route(PREFIX + "/jobs/{job_id:int}/cache", save_cache, methods=["PUT"], name="runner_save_cache"),
]
