"""The runner's side of the forge's runner protocol (``docs/ci.md``, "Runner protocol"), over httpx.

``register`` trades a registration token for a runner id and token. ``RunnerClient`` makes the calls
authenticated by the runner token (asking for a job, heartbeats); ``JobClient`` those authenticated by one job's
token (log, state, watch). Connection errors and 5xx answers are retried with backoff, so a forge restart does not
lose a job; a 401 is never retried and says what to do. ``Job`` and its parts are the typed form of the job payload.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
    file: bool = False  # GitLab's file-type variable: the runner writes the value to a file and passes its path


@dataclass(frozen=True)
class JobService:
    """A ``services`` entry: a container started next to the job's, reachable by its aliases."""

    name: str  # the image
    aliases: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobArtifacts:
    """``artifacts``: what is archived and uploaded after the job's scripts."""

    name: str = ""
    paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    untracked: bool = False
    when: str = "on_success"  # on_success | on_failure | always
    expire_in: str = ""  # seconds as digits, "never" (kept until deleted), or "" for the forge's default
    junit: tuple[str, ...] = ()  # reports:junit patterns


@dataclass(frozen=True)
class JobCache:
    """One ``cache`` entry; ``key`` is final (the forge resolved ``key:files`` and expanded variables)."""

    key: str = "default"
    paths: tuple[str, ...] = ()
    untracked: bool = False
    policy: str = "pull-push"  # pull | push | pull-push
    when: str = "on_success"
    fallback_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobDependency:
    """The archive of an earlier job of the pipeline, downloaded into the checkout before the script."""

    job_id: int
    name: str
    filename: str = "artifacts.zip"
    size: int | None = None


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
    services: tuple[JobService, ...] = ()
    artifacts: JobArtifacts | None = None
    cache: tuple[JobCache, ...] = ()
    dependencies: tuple[JobDependency, ...] = ()

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


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f"{name} is not true or false")
    return value


def _optional_strings(value: Any, name: str) -> tuple[str, ...] | None:
    return None if value is None else _strings(value, name)


def _parse_service(item: Any) -> JobService:
    if isinstance(item, str):  # the short form, should a forge send it
        return JobService(item)
    if not isinstance(item, dict):
        raise TypeError("services has an entry that is neither a name nor an object")
    alias = item.get("alias")
    if isinstance(alias, str):  # GitLab allows "a,b" in one string
        aliases = tuple(a.strip() for a in alias.split(",") if a.strip())
    else:
        aliases = _strings(alias, "services.alias")
    variables = []
    for var in item.get("variables") or []:
        if not isinstance(var, dict):
            raise TypeError("services.variables has an entry that is not an object")
        variables.append((_str(var["key"], "services.variables.key"), str(var.get("value", ""))))
    return JobService(
        name=_str(item["name"], "services.name"), aliases=aliases,
        command=_optional_strings(item.get("command"), "services.command"),
        entrypoint=_optional_strings(item.get("entrypoint"), "services.entrypoint"),
        variables=tuple(variables),
    )


def _optional_int(value: Any, name: str) -> int | None:
    return None if value is None or value == "" else _int(value, name)


def _expire_in(value: Any) -> str:
    """``artifacts.expire_in`` as the upload's query value: seconds, "never", or "" (the forge decides)."""
    if value is None or value == "":
        return ""
    if value == "never":
        return "never"
    return str(_int(value, "artifacts.expire_in"))


def _parse_artifacts(item: Any) -> JobArtifacts | None:
    if item is None:
        return None
    if not isinstance(item, dict):
        raise TypeError("artifacts is not an object")
    reports = item.get("reports") or {}
    if not isinstance(reports, dict):
        raise TypeError("artifacts.reports is not an object")
    return JobArtifacts(
        name=_str(item.get("name") or "", "artifacts.name"),
        paths=_strings(item.get("paths"), "artifacts.paths"),
        exclude=_strings(item.get("exclude"), "artifacts.exclude"),
        untracked=_bool(item.get("untracked"), "artifacts.untracked"),
        when=_str(item.get("when") or "on_success", "artifacts.when"),
        expire_in=_expire_in(item.get("expire_in")),
        junit=_strings(reports.get("junit"), "artifacts.reports.junit"),
    )


def _parse_cache(item: Any) -> JobCache:
    if not isinstance(item, dict):
        raise TypeError("cache has an entry that is not an object")
    return JobCache(
        key=_str(item.get("key") or "default", "cache.key"),
        paths=_strings(item.get("paths"), "cache.paths"),
        untracked=_bool(item.get("untracked"), "cache.untracked"),
        policy=_str(item.get("policy") or "pull-push", "cache.policy"),
        when=_str(item.get("when") or "on_success", "cache.when"),
        fallback_keys=_strings(item.get("fallback_keys"), "cache.fallback_keys"),
    )


def _parse_dependency(item: Any) -> JobDependency:
    if not isinstance(item, dict):
        raise TypeError("dependencies has an entry that is not an object")
    return JobDependency(
        job_id=_int(item["job_id"], "dependencies.job_id"),
        name=_str(item.get("name") or "", "dependencies.name"),
        filename=_str(item.get("filename") or "artifacts.zip", "dependencies.filename"),
        size=_optional_int(item.get("size"), "dependencies.size"),
    )


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{name} is not a list")
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
                                     bool(item.get("masked", False)), bool(item.get("file", False))))
    git = data["git"]
    cache_data = data.get("cache")
    if isinstance(cache_data, dict):  # one cache written without a list
        cache_data = [cache_data]
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
        # CI delivery: a missing key means the job does not use the feature; unknown keys are ignored.
        services=tuple(_parse_service(s) for s in _list(data.get("services"), "services")),
        artifacts=_parse_artifacts(data.get("artifacts")),
        cache=tuple(_parse_cache(c) for c in _list(cache_data, "cache")),
        dependencies=tuple(_parse_dependency(d) for d in _list(data.get("dependencies"), "dependencies")),
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
