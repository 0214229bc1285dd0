"""The runner's side of the forge's runner protocol (``docs/ci.md``, "Runner protocol"), over httpx.

``register`` trades a registration token for a runner id and token. ``RunnerClient`` makes the calls
authenticated by the runner token (asking for a job, heartbeats); ``JobClient`` those authenticated by one job's
token (log, state, watch). Connection errors and 5xx answers are retried with backoff, so a forge restart does not
lose a job; a 401 is never retried and says what to do. ``Job`` and its parts are the typed form of the job payload.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from runners import __version__

log = logging.getLogger("forge_runner")

API = "/api/v1/runners"
LONG_POLL_WAIT = 30  # seconds; the most the protocol allows
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 15.0
# Statuses that mean "the forge is there but cannot answer now": try again later.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FINAL_STATES = frozenset({"success", "failed", "canceled", "skipped"})


class ClientError(Exception):
    """A protocol call failed; the message is one sentence for the operator."""


class Unauthorized(ClientError):
    """The forge refused the token (401)."""


class JobGone(ClientError):
    """The forge no longer accepts this job's token (the job ended, was canceled or deleted)."""


class ServerUnavailable(ClientError):
    """The forge could not be reached or kept answering 5xx for longer than the caller wanted to wait."""


class ProtocolError(ClientError):
    """The forge answered something this runner does not understand, or refused the request (other 4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Stopped(ClientError):
    """The runner is stopping; a retried call gave up."""


# ---------------------------------------------------------------------------------------------------------------
# The job payload


@dataclass(frozen=True)
class JobImage:
    name: str
    entrypoint: tuple[str, ...] | None = None


@dataclass(frozen=True)
class JobVariable:
    key: str
    value: str
    masked: bool = False


@dataclass(frozen=True)
class JobGit:
    url: str  # the repository's smart HTTP URL, without credentials
    sha: str
    ref: str
    depth: int = 20  # 0 fetches the whole history


@dataclass(frozen=True)
class Job:
    id: int
    token: str
    name: str
    stage: str
    pipeline_id: int
    image: JobImage | None
    before_script: tuple[str, ...]
    script: tuple[str, ...]
    after_script: tuple[str, ...]
    variables: tuple[JobVariable, ...]
    timeout: int
    git: JobGit
    log_offset: int = 0

    @classmethod
    def from_payload(cls, data: Any) -> Job:
        """The job in a ``jobs/request`` answer; ``ProtocolError`` names the first field that is wrong."""
        try:
            return _parse_job(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"The forge sent a job this runner cannot read ({exc}).") from None

    def variable(self, key: str) -> str | None:
        for var in self.variables:
            if var.key == key:
                return var.value
        return None

    def masked_values(self) -> list[str]:
        """Everything that must never reach the log: masked variables and the job token."""
        values = {var.value for var in self.variables if var.masked and var.value}
        values.add(self.token)
        return sorted(values)

    @property
    def project_path(self) -> str:
        """``owner/repo`` (``CI_PROJECT_PATH``, else the git URL's path), safe to use as a directory path."""
        path = self.variable("CI_PROJECT_PATH") or httpx.URL(self.git.url).path.removesuffix(".git")
        parts = [p for p in path.strip("/").split("/") if p]
        if parts and all(_SAFE_PART.fullmatch(p) and p not in (".", "..") for p in parts):
            return "/".join(parts)
        return f"job-{self.id}"


_SAFE_PART = re.compile(r"[A-Za-z0-9._-]+")


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} is not a list of strings")
    return tuple(value)


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is not an integer")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _parse_job(data: Any) -> Job:
    if not isinstance(data, dict):
        raise TypeError("the job is not an object")
    image_data = data.get("image")
    image = None
    if isinstance(image_data, str):
        image = JobImage(image_data)
    elif isinstance(image_data, dict):
        entry = image_data.get("entrypoint")
        image = JobImage(_str(image_data["name"], "image.name"),
                         None if entry is None else _strings(entry, "image.entrypoint"))
    elif image_data is not None:
        raise TypeError("image is neither a name nor an object")
    variables = []
    for item in data.get("variables") or []:
        variables.append(JobVariable(_str(item["key"], "variables.key"), _str(item["value"], "variables.value"),
                                     bool(item.get("masked", False))))
    git = data["git"]
    return Job(
        id=_int(data["id"], "id"),
        token=_str(data["token"], "token"),
        name=_str(data.get("name", ""), "name"),
        stage=_str(data.get("stage", ""), "stage"),
        pipeline_id=_int(data.get("pipeline_id", 0), "pipeline_id"),
        image=image,
        before_script=_strings(data.get("before_script"), "before_script"),
        script=_strings(data.get("script"), "script"),
        after_script=_strings(data.get("after_script"), "after_script"),
        variables=tuple(variables),
        timeout=_int(data.get("timeout", 3600), "timeout"),
        git=JobGit(_str(git["url"], "git.url"), _str(git["sha"], "git.sha"), _str(git.get("ref", ""), "git.ref"),
                   _int(git.get("depth", 20), "git.depth")),
        log_offset=_int(data.get("log_offset", 0), "log_offset"),
    )


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
             read_timeout: float = 30.0, stop: threading.Event | None = None, **kwargs: Any) -> httpx.Response:
        """Send the request, retrying connection errors and 5xx for ``retry_for`` seconds (None: until
        ``stop`` is set). Answers with a status in ``expect`` are returned, and so is 416 (the log's gap
        answer); 401 raises ``Unauthorized``, any other status ``ProtocolError``. ``stop`` (default: the
        client's) ends the retrying with ``Stopped``."""
        stop = stop or self.stop
        deadline = None if retry_for is None else time.monotonic() + retry_for
        delay = _BACKOFF_FIRST
        timeout = httpx.Timeout(read_timeout, connect=10.0)
        while True:
            if stop.is_set():
                raise Stopped("The runner is stopping.")
            problem: str
            try:
                response = self._client.request(method, path, timeout=timeout, **kwargs)
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

    def watch(self, wait: int = LONG_POLL_WAIT) -> str:
        """Long-poll until the job is canceled or ``wait`` passes; the job's current state."""
        response = self._call("GET", "/watch", params={"wait": wait}, read_timeout=wait + 30.0)
        current = _json_object(response).get("state")
        return current if isinstance(current, str) else ""
