"""A small in-memory HTTP server speaking the runner protocol of docs/ci.md, for testing the runner by itself.

It is a real server (``http.server`` in a thread on a loopback port) with the protocol's rules — long polls, logs
appended by offset with 416 on a gap, a cancel answered at once to the watch — and switches to make it misbehave
(answer 503 after storing, refuse tokens). The end-to-end tests through the forge's own implementation of the
protocol live with the server side.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RUNNER_TOKEN = "frn_test-runner-token"
REGISTRATION_TOKEN = "frt_test-registration"


@dataclass
class FakeJob:
    payload: dict[str, Any]
    state: str = "pending"
    log: bytearray = field(default_factory=bytearray)
    reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def token(self) -> str:
        return str(self.payload["token"])


class ProtocolServer:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.jobs: dict[int, FakeJob] = {}
        self.registrations: list[dict[str, Any]] = []
        self.heartbeats: list[list[int]] = []
        self.requests: list[tuple[str, str]] = []
        self.cancel_by_heartbeat: set[int] = set()
        self.fail_after_store = 0  # answer this many log PUTs with 503 after storing their bytes
        self.unavailable = 0  # answer this many calls of any kind with 503 before looking at them
        self.runner_token = RUNNER_TOKEN
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> ProtocolServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- test controls -------------------------------------------------------------------------------------------

    def add_job(self, payload: dict[str, Any]) -> FakeJob:
        job = FakeJob(payload)
        with self.cond:
            self.jobs[job.id] = job
            self.cond.notify_all()
        return job

    def cancel(self, job_id: int) -> None:
        with self.cond:
            self.jobs[job_id].state = "canceled"
            self.cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the runner did not get there in time")
                self.cond.wait(left)

    # -- HTTP ----------------------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _bearer(self) -> str:
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else ""

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = self._body()
                with server.cond:
                    server.requests.append((method, parts.path))
                    if server.unavailable > 0:
                        server.unavailable -= 1
                        self._send(503, {"error": "The forge is starting."})
                        return
                status, answer = server.handle(method, parts.path, query, body, self._bearer())
                self._send(status, answer)

        return Handler

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes,
               token: str) -> tuple[int, dict[str, Any] | None]:
        prefix = "/api/v1/runners"
        if not path.startswith(prefix):
            return 404, {"error": "Not found."}
        path = path[len(prefix):]
        if path == "/register" and method == "POST":
            data = json.loads(body)
            if data.get("registration_token") != REGISTRATION_TOKEN:
                return 401, {"error": "The registration token is not valid."}
            with self.cond:
                self.registrations.append(data)
            return 201, {"id": 7, "token": RUNNER_TOKEN}
        if path in ("/jobs/request", "/heartbeat"):
            if token != self.runner_token:
                return 401, {"error": "The runner token is not valid."}
            data = json.loads(body)
            if path == "/heartbeat":
                with self.cond:
                    self.heartbeats.append(list(data["jobs"]))
                    cancel = sorted(i for i in data["jobs"] if i in self.cancel_by_heartbeat)
                    for i in cancel:
                        self.jobs[i].state = "canceled"
                    self.cond.notify_all()
                return 200, {"cancel": cancel}
            deadline = time.monotonic() + min(float(data.get("wait", 30)), 30.0)
            with self.cond:
                while True:
                    for job in self.jobs.values():
                        if job.state == "pending":
                            job.state = "running"
                            self.cond.notify_all()
                            return 200, job.payload
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return 204, None
                    self.cond.wait(left)
        # /jobs/{id}/...
        segments = path.strip("/").split("/")
        if len(segments) != 3 or segments[0] != "jobs" or not segments[1].isdigit():
            return 404, {"error": "Not found."}
        with self.cond:
            found = self.jobs.get(int(segments[1]))
            if found is None or token != found.token:
                return 401, {"error": "The job token is not valid."}
            job = found
            action = segments[2]
            if action == "log" and method == "PUT":
                offset = int(query["offset"])
                if offset > len(job.log):
                    return 416, {"length": len(job.log)}
                job.log += body[len(job.log) - offset:]
                self.cond.notify_all()
                if self.fail_after_store > 0:
                    self.fail_after_store -= 1
                    return 503, {"error": "Lost the answer."}
                return 200, {"length": len(job.log), "state": job.state}
            if action == "state" and method == "POST":
                data = json.loads(body)
                job.reports.append(data)
                if job.state != "canceled":
                    job.state = data["state"]
                self.cond.notify_all()
                return 200, {"state": job.state}
            if action == "watch" and method == "GET":
                deadline = time.monotonic() + min(float(query.get("wait", 30)), 30.0)
                while job.state != "canceled" and time.monotonic() < deadline:
                    self.cond.wait(deadline - time.monotonic())
                return 200, {"state": job.state}
        return 404, {"error": "Not found."}
