"""A real HTTP webhook receiver on a loopback port that records every request, for the webhook tests.

Usage::

    from tests.hookreceiver import HookReceiver

    with HookReceiver() as receiver:            # starts a server thread on 127.0.0.1:<free port>
        receiver.respond(500, 200)              # first request gets 500, the second 200, then the default (200)
        receiver.respond(200, delay=2.0)        # or: answer after 2 s (to provoke a timeout)
        url = receiver.url("/hook")             # "http://127.0.0.1:<port>/hook"
        ...                                     # make the forge deliver to `url`
        hit = receiver.wait_for(1, timeout=10)[0]   # block until one request arrived (AssertionError if not)
        hit.method, hit.path, hit.headers["X-GitHub-Event"], hit.body, hit.json(), hit.form()
        receiver.requests                       # every request so far (a copy); receiver.clear() forgets them

The default answer is ``default_status`` (200) with body ``ok``; queued answers (``respond``) are used first,
one per request, in order. Header lookup on a recorded request is case-insensitive.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class _Headers(dict[str, str]):
    """A dict of headers whose lookups ignore case (``hit.headers["x-github-event"]`` works)."""

    def __getitem__(self, key: str) -> str:
        for name, value in self.items():
            if name.lower() == key.lower():
                return value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(name.lower() == key.lower() for name in self)


@dataclass
class Hit:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: _Headers
    body: bytes
    status: int  # what the receiver answered
    received_at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The payload: the JSON body, or the ``payload`` field of a form-encoded body."""
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return json.loads(self.form()["payload"])
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.text, keep_blank_values=True).items()}


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class HookReceiver:
    def __init__(self, default_status: int = 200) -> None:
        self.default = Answer(default_status)
        self._answers: list[Answer] = []
        self._hits: list[Hit] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- control ------------------------------------------------------------------------------------------

    def start(self) -> HookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, *statuses: int, delay: float = 0.0, body: bytes = b"ok",
                headers: dict[str, str] | None = None) -> None:
        """Queue one answer per status for the next requests (in order)."""
        with self._cond:
            for status in statuses:
                self._answers.append(Answer(status, body, delay, dict(headers or {})))

    @property
    def requests(self) -> list[Hit]:
        with self._cond:
            return list(self._hits)

    def clear(self) -> None:
        with self._cond:
            self._hits.clear()
            self._answers.clear()

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Hit]:
        """Block until at least ``count`` requests arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._hits) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} webhook request(s), got {len(self._hits)}")
                self._cond.wait(left)
            return list(self._hits)

    # --- serving ------------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._cond:
            answer = self._answers.pop(0) if self._answers else self.default
        headers = _Headers({name: value for name, value in handler.headers.items()})
        with self._cond:
            self._hits.append(Hit(handler.command, handler.path, headers, body, answer.status))
            self._cond.notify_all()
        if answer.delay:
            time.sleep(answer.delay)
        try:
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        except OSError:  # the client gave up (timeout test)
            pass
