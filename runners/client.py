"""The runner's side of the forge's runner protocol (``docs/ci.md``, "Runner protocol"), over httpx.

``register`` trades a registration token for a runner id and token. ``RunnerClient`` makes the calls
authenticated by the runner token (asking for a job, heartbeats); ``JobClient`` those authenticated by one job's
token (log, state, watch). Connection errors and 5xx answers are retried with backoff, so a forge restart does not
lose a job; a 401 is never retried and says what to do. The job payload's typed form is ``runners.payload``;
the exceptions are in ``runners.errors``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runners import __version__
from runners.errors import JobGone, ProtocolError, ServerUnavailable, Stopped, Unauthorized
from runners.payload import Job

log = logging.getLogger("forge_runner")

API = "/api/v1/runners"
LONG_POLL_WAIT = 30  # seconds; the most the protocol allows
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 15.0
# Statuses that mean "the forge is there but cannot answer now": try again later.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FINAL_STATES = frozenset({"success", "failed", "canceled", "skipped"})


# ---------------------------------------------------------------------------------------------------------------
# HTTP


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    except ValueError:
        pass
    return response.reason_phrase or f"HTTP {response.status_code}"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ProtocolError(f"The forge answered {response.request.url.path} with something that is not JSON.") \
            from None
    if not isinstance(body, dict):
        raise ProtocolError(f"The forge answered {response.request.url.path} with JSON that is not an object.")
    return body


class _Http:
    """One httpx client with the retry rule every protocol call shares."""

    def __init__(self, base_url: str, token: str, *, stop: threading.Event | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.stop = stop or threading.Event()
        headers = {"User-Agent": f"forge-runner/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=self.base_url + API,
            headers=headers,
            timeout=httpx.Timeout(30.0, connect=10.0),
        )

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, *, retry_for: float | None, expect: tuple[int, ...] = (200,),
             read_timeout: float = 30.0, stop: threading.Event | None = None, download_to: Path | None = None,
             **kwargs: Any) -> httpx.Response:
        """Send the request, retrying connection errors and 5xx for ``retry_for`` seconds (None: until
        ``stop`` is set). Answers with a status in ``expect`` are returned, and so is 416 (the log's gap
        answer); 401 raises ``Unauthorized``, any other status ``ProtocolError``. ``stop`` (default: the
        client's) ends the retrying with ``Stopped``. With ``download_to``, a 2xx body is streamed into that
        file (never held in memory) and the returned response has no body left to read."""
        stop = stop or self.stop
        deadline = None if retry_for is None else time.monotonic() + retry_for
        delay = _BACKOFF_FIRST
        timeout = httpx.Timeout(read_timeout, connect=10.0)
        while True:
            if stop.is_set():
                raise Stopped("The runner is stopping.")
            problem: str
            try:
                response = self._send(method, path, timeout, download_to, expect, kwargs)
            except httpx.TransportError as exc:
                problem = f"cannot reach the forge at {self.base_url} ({exc.__class__.__name__}: {exc})"
            else:
                if response.status_code in expect or response.status_code == 416:
                    return response
                if response.status_code == 401:
                    raise Unauthorized(_error_text(response))
                if response.status_code not in _RETRY_STATUSES:
                    raise ProtocolError(
                        f"The forge refused {method} {path} with HTTP {response.status_code}: "
                        f"{_error_text(response)}",
                        response.status_code,
                    )
                problem = f"the forge answered HTTP {response.status_code} ({_error_text(response)})"
            now = time.monotonic()
            if deadline is not None and now + delay > deadline:
                raise ServerUnavailable(problem[0].upper() + problem[1:] + ".")
            log.warning("%s %s: %s; trying again in %.1f s", method, path, problem, delay)
            # Jitter keeps many runners from hammering a restarting forge in step.
            if stop.wait(delay * random.uniform(0.8, 1.2)):
                raise Stopped("The runner is stopping.")
            delay = min(delay * 2, _BACKOFF_MAX)


    def _send(self, method: str, path: str, timeout: httpx.Timeout, download_to: Path | None,
              expect: tuple[int, ...], kwargs: dict[str, Any]) -> httpx.Response:
        if download_to is None:
            return self._client.request(method, path, timeout=timeout, **kwargs)
        with self._client.stream(method, path, timeout=timeout, **kwargs) as response:
            if response.status_code in expect and 200 <= response.status_code < 300:
                # A broken connection half-way raises a TransportError: the caller retries from the start.
                with download_to.open("wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        if self.stop.is_set():
                            raise Stopped("The transfer was stopped.")
                        out.write(chunk)
            else:
                response.read()  # an error answer is small JSON
        return response


_CHUNK = 64 * 1024


class _FileBody:
    """A request body read from a file in chunks. Not a generator on purpose: httpx can iterate it again, so a
    retried upload sends the whole file again."""

    def __init__(self, path: Path, stop: threading.Event) -> None:
        self.path = path
        self.stop = stop

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as src:
            while chunk := src.read(_CHUNK):
                if self.stop.is_set():  # a canceled job does not finish sending a big archive
                    raise Stopped("The transfer was stopped.")
                yield chunk


def register(url: str, registration_token: str, *, name: str, labels: list[str], concurrency: int,
             executor: str) -> tuple[int, str]:
    """Register this runner; the runner id and token. One try: the operator is watching and can run it again."""
    http = _Http(url, "")  # the registration token travels in the body
    try:
        response = http.call(
            "POST", "/register", retry_for=0, expect=(200, 201),
            json={"registration_token": registration_token, "name": name, "labels": labels,
                  "concurrency": concurrency, "executor": executor, "version": __version__},
        )
    except Unauthorized as exc:
        raise Unauthorized(f"The forge refused the registration token: {exc}") from None
    finally:
        http.close()
    body = _json_object(response)
    runner_id, token = body.get("id"), body.get("token")
    if not isinstance(runner_id, int) or not isinstance(token, str) or not token:
        raise ProtocolError("The forge's registration answer has no runner id and token.")
    return runner_id, token


class RunnerClient:
    """Calls made as the runner (runner token)."""

    def __init__(self, url: str, token: str, *, stop: threading.Event | None = None) -> None:
        self._http = _Http(url, token, stop=stop)

    def close(self) -> None:
        self._http.close()

    def request_job(self, wait: int = LONG_POLL_WAIT, *, retry_for: float | None = None,
                    stop: threading.Event | None = None) -> Job | None:
        """Long-poll for a job: the job, or None when ``wait`` passed without one. Retries until ``stop`` is set
        (``retry_for`` None), since there is nothing better to do while the forge is away."""
        try:
            response = self._http.call("POST", "/jobs/request", retry_for=retry_for, expect=(200, 204),
                                       read_timeout=wait + 30.0, stop=stop, json={"wait": wait})
        except Unauthorized as exc:
            raise Unauthorized(
                f"The forge refused this runner's token ({exc}): the runner was deleted or its token revoked; "
                "register it again."
            ) from None
        if response.status_code == 204:
            return None
        if response.status_code == 416:
            raise ProtocolError("The forge answered the job request with HTTP 416.")
        return Job.from_payload(_json_object(response))

    def heartbeat(self, job_ids: list[int], *, retry_for: float = 5.0) -> list[int]:
        """Tell the forge this runner is alive and which jobs it runs; the ids of those it should cancel."""
        response = self._http.call("POST", "/heartbeat", retry_for=retry_for, json={"jobs": job_ids})
        cancel = _json_object(response).get("cancel") or []
        return [i for i in cancel if isinstance(i, int) and not isinstance(i, bool)]


@dataclass(frozen=True)
class LogAck:
    length: int  # how many bytes of the log the forge now has
    state: str  # the job's state as the forge sees it ("" when the answer did not say)
    gap: bool = False  # True on 416: the offset was beyond ``length``; resend from there


class JobClient:
    """Calls made for one job (job token). ``retry_for`` bounds retries: a forge gone for longer than the
    runner-lost timeout has failed the job anyway."""

    def __init__(self, url: str, job: Job, *, stop: threading.Event | None = None, retry_for: float = 120.0) -> None:
        self.job_id = job.id
        self.retry_for = retry_for
        self._http = _Http(url, job.token, stop=stop)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("retry_for", self.retry_for)
        try:
            return self._http.call(method, f"/jobs/{self.job_id}{path}", **kwargs)
        except Unauthorized as exc:
            raise JobGone(f"The forge no longer accepts job {self.job_id}'s token: {exc}") from None
        except ProtocolError as exc:
            if exc.status in (403, 404, 410):
                raise JobGone(str(exc)) from None
            raise

    def append_log(self, offset: int, data: bytes) -> LogAck:
        """Send log bytes that start at ``offset``. Idempotent: bytes the forge has are ignored by it; on a gap
        the answer has ``gap`` set and the forge's length, and the caller resends from there."""
        response = self._call("PUT", "/log", params={"offset": offset}, content=data,
                              headers={"Content-Type": "application/octet-stream"})
        body = _json_object(response)
        length = body.get("length")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ProtocolError("The forge's log answer has no length.")
        state = body.get("state")
        return LogAck(length, state if isinstance(state, str) else "", gap=response.status_code == 416)

    def report_state(self, state: str, *, exit_code: int | None = None, failure_reason: str | None = None) -> str:
        """Report ``running``, ``success`` or ``failed``; the job's state as the forge now has it (``canceled``
        when it was canceled meanwhile: the report then changed nothing)."""
        payload: dict[str, Any] = {"state": state}
        if exit_code is not None:
            payload["exit_code"] = exit_code
        if failure_reason is not None:
            payload["failure_reason"] = failure_reason
        response = self._call("POST", "/state", json=payload)
        current = _json_object(response).get("state")
        return current if isinstance(current, str) else state

    # -- files (artifacts and caches, docs/ci.md "Runner protocol") -----------------------------------------------

    def _download(self, path: str, dest: Path, params: dict[str, str] | None = None) -> bool:
        """Stream ``path`` into ``dest``; False when the forge has nothing there (404)."""
        response = self._call("GET", path, params=params, expect=(200, 404), download_to=dest, read_timeout=300.0)
        return response.status_code == 200

    def _upload(self, path: str, src: Path, params: dict[str, str], content_type: str) -> int:
        """Stream ``src`` to ``path`` (PUT, with its Content-Length); the size the forge stored."""
        size = os.stat(src).st_size
        response = self._call("PUT", path, params=params, content=_FileBody(src, self._http.stop), expect=(200, 201),
                              read_timeout=300.0,
                              headers={"Content-Type": content_type, "Content-Length": str(size)})
        stored = _json_object(response).get("size") if response.content else None
        return stored if isinstance(stored, int) and not isinstance(stored, bool) else size

    def download_artifacts(self, other_job_id: int, dest: Path) -> bool:
        """The archive of job ``other_job_id`` of the same pipeline into ``dest``; False when it has none."""
        return self._download(f"/artifacts/{other_job_id}", dest)

    def upload_artifact(self, kind: str, filename: str, src: Path, expire_in: str) -> int:
        """Upload ``src`` as this job's artifact of type ``kind`` (``archive`` or ``junit``)."""
        params = {"type": kind, "filename": filename, "expire_in": expire_in}
        content_type = "application/zip" if kind == "archive" else "application/octet-stream"
        return self._upload("/artifacts", src, params, content_type)

    def get_cache(self, key: str, dest: Path) -> bool:
        """The repository's cache archive for ``key`` into ``dest``; False on a miss."""
        return self._download("/cache", dest, {"key": key})

    def put_cache(self, key: str, src: Path) -> int:
        return self._upload("/cache", src, {"key": key}, "application/zip")

    def watch(self, wait: int = LONG_POLL_WAIT) -> str:
        """Long-poll until the job is canceled or ``wait`` passes; the job's current state."""
        response = self._call("GET", "/watch", params={"wait": wait}, read_timeout=wait + 30.0)
        current = _json_object(response).get("state")
        return current if isinstance(current, str) else ""
