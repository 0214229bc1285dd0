"""Job logs for readers: the raw text, the live Server-Sent Events stream, and the context of the log partial
(``ci/job_log.html``) that the job page includes.

The stream sends the stored chunks after the client's ``Last-Event-ID`` (or ``?after=``), each as one event whose id
is the chunk's offset and whose data is the text as a JSON string (so carriage returns and blank lines survive the
SSE framing); a ``sync`` event once it has caught up; then new chunks as they are stored — woken at once by an append
in this worker, by a database check every 100 ms for appends in other workers; and finally an ``end`` event with the
job's status. A hidden repository's jobs are 404 like the repository itself.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ci import ansi, logs, notify, tokens
from ci.models import CANCELED, DONE_STATES, FAILED, PENDING, RUNNING, SKIPPED, SUCCESS, Job
from forge.errors import NotFound
from forge.i18n import N_
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web.i18n import gettext
from web.state import current_user, run_db

# The page shows at most this much of a log without JavaScript (the raw log has everything).
PAGE_LOG_BYTES = 1024 * 1024
STREAM_BATCH_BYTES = 512 * 1024
POLL_INTERVAL = 0.1
KEEPALIVE_SECONDS = 15.0
# A stream is closed after this long; the browser reconnects with Last-Event-ID and loses nothing.
STREAM_LIFETIME = 600.0

STATUS_LABELS = {
    "created": N_("created"),
    PENDING: N_("pending"),
    RUNNING: N_("running"),
    SUCCESS: N_("passed"),
    FAILED: N_("failed"),
    CANCELED: N_("canceled"),
    SKIPPED: N_("skipped"),
    "manual": N_("manual"),
}


def status_label(status: str) -> str:
    return gettext(STATUS_LABELS.get(status, status))


def _lookup(session: Session, request: Request) -> tuple[RepoRef, Job]:
    p = request.path_params
    ref, _ = repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"])
    job = session.get(Job, p["job_id"]) if tokens.valid_id(p["job_id"]) else None
    if job is None or job.repo_id != ref.repo.id:
        raise NotFound(N_("Job %(id)s not found in this repository."), id=p["job_id"])
    return ref, job


def job_urls(full_name: str, job_id: int | None) -> dict[str, str]:
    base = f"/{full_name}/-/jobs/{job_id}"
    return {"raw_url": f"{base}/log", "stream_url": f"{base}/log/stream"}


def job_log_context(session: Session, ref: RepoRef, job: Job) -> dict[str, Any]:
    """What ``{% include "ci/job_log.html" %}`` needs, under the name ``log``: the end of the stored log rendered
    to HTML (for readers without JavaScript) and where the live stream is."""
    text, partial, _ = logs.read_end(session, job, PAGE_LOG_BYTES)
    return {
        "log": {
            # ansi.render escapes the text itself.
            "html": Markup(ansi.render(text.decode("utf-8", "replace"))),
            "partial": partial,
            "empty": not text,
            "status": job.status,
            "live": job.status not in DONE_STATES,
            **job_urls(ref.full_name, job.id),
        }
    }


def _chunks(session: Session, *, job_id: int, after: int | None) -> list[tuple[int, bytes]]:
    return logs.read_chunks(session, job_id, after, STREAM_BATCH_BYTES)


# --- raw log -----------------------------------------------------------------------------------------------


async def raw_log(request: Request) -> Response:
    _, job = await run_db(request, lambda s: _lookup(s, request))
    assert job.id is not None
    job_id = job.id

    async def body() -> AsyncIterator[bytes]:
        after: int | None = None
        while True:
            chunks = await run_db(request, functools.partial(_chunks, job_id=job_id, after=after))
            if not chunks:
                break
            yield b"".join(data for _, data in chunks)
            after = chunks[-1][0]

        def tail(session: Session) -> bytes:
            current = session.get(Job, job_id)
            return logs.held_tail(session, job_id) if current and current.status in DONE_STATES else b""

        yield await run_db(request, tail)

    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    return StreamingResponse(body(), media_type="text/plain; charset=utf-8", headers=headers)


# --- live stream -------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    chunks: list[tuple[int, bytes]]
    status: str
    log_length: int
    tail: bytes


def _event(data: object, *, event: str = "", event_id: int | None = None) -> bytes:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, ensure_ascii=False)}")
    return ("\n".join(lines) + "\n\n").encode()


def _parse_after(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after", "")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


async def log_stream(request: Request) -> Response:
    _, job = await run_db(request, lambda s: _lookup(s, request))
    assert job.id is not None
    job_id = job.id
    start_after = _parse_after(request)

    def read(session: Session, after: int | None, unchanged_at: int | None) -> _Batch:
        # The status is read before the chunks: a job seen finished has all its chunks stored already.
        current = session.get(Job, job_id)
        status = current.status if current is not None else CANCELED
        length = current.log_length if current is not None else 0
        if length == unchanged_at and status not in DONE_STATES:
            # Chunks are stored with the length that counts them: nothing new, no need to look.
            return _Batch([], status, length, b"")
        chunks = logs.read_chunks(session, job_id, after, STREAM_BATCH_BYTES)
        final = status in DONE_STATES
        tail = logs.held_tail(session, job_id) if final else b""
        return _Batch(chunks, status, length, tail)

    async def events() -> AsyncIterator[bytes]:
        after = start_after
        seen_length: int | None = None  # the log length when everything up to it was sent
        synced = False
        started = last_sent = time.monotonic()
        yield b"retry: 1000\n\n"
        with notify.hub.subscribe(notify.job_key(job_id)) as sub:
            while True:
                batch = await run_db(request, functools.partial(read, after=after, unchanged_at=seen_length))
                for offset, data in batch.chunks:
                    yield _event(data.decode("utf-8", "replace"), event_id=offset)
                    after = offset
                if batch.chunks:
                    last_sent = time.monotonic()
                    if sum(len(d) for _, d in batch.chunks) >= STREAM_BATCH_BYTES:
                        seen_length = None
                        continue  # more is waiting: send it before anything else
                seen_length = batch.log_length
                if batch.status in DONE_STATES:
                    if batch.tail:
                        yield _event(batch.tail.decode("utf-8", "replace"), event_id=batch.log_length)
                    yield _event({"status": batch.status, "label": status_label(batch.status)}, event="end")
                    return
                if not synced:
                    synced = True
                    yield _event({"status": batch.status, "label": status_label(batch.status)}, event="sync")
                now = time.monotonic()
                if now - started > STREAM_LIFETIME:
                    return
                if now - last_sent > KEEPALIVE_SECONDS:
                    last_sent = now
                    yield b": keepalive\n\n"
                await sub.wait(POLL_INTERVAL)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


_JOB = "/{owner}/{repo}/-/jobs/{job_id:int}"

routes: list[BaseRoute] = [
    Route(_JOB + "/log", raw_log, methods=["GET"], name="job_log_raw"),
    Route(_JOB + "/log/stream", log_stream, methods=["GET"], name="job_log_stream"),
]
