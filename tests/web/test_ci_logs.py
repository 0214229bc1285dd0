"""Job logs for readers: the raw log, the live Server-Sent Events stream (a line appended after connecting arrives,
the stream ends with the final status, a reconnect resumes after Last-Event-ID), the log on the job page rendered
without JavaScript, and privacy (a hidden repository's logs are 404)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from ci.tokens import Scope
from tests.ci.runner_helpers import make_job, make_pipeline, register, registration_token
from tests.factories import PASSWORD

API = "/api/v1/runners"


def _running_job(server, factory, *, private: bool = False) -> tuple[Any, Any, dict[str, Any]]:  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    runner = register(e, registration_token(e, owner, Scope.repo(ref.repo)))
    make_job(e, ref, make_pipeline(e, ref), tags=runner.label)
    resp = httpx.post(f"{server.url}{API}/jobs/request", json={"wait": 5},
                      headers={"Authorization": f"Bearer {runner.token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return owner, ref, resp.json()


def _job_api(server, job: dict[str, Any]) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=f"{server.url}{API}/jobs/{job['id']}",
                        headers={"Authorization": f"Bearer {job['token']}"}, timeout=30)


def _append(api: httpx.Client, offset: int, data: bytes) -> int:
    resp = api.put("/log", params={"offset": offset}, content=data)
    assert resp.status_code == 200, resp.text
    length: int = resp.json()["length"]
    return length


def _events(resp: httpx.Response) -> Iterator[dict[str, str]]:
    """Server-sent events as {"event", "id", "data"} (comments skipped)."""
    event: dict[str, str] = {}
    for line in resp.iter_lines():
        if not line:
            if "data" in event:
                event.setdefault("event", "message")
                yield event
            event = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name in ("event", "id", "data", "retry"):
            event[name] = value


def test_stream_sends_backlog_then_new_lines_then_the_end(server, factory):  # type: ignore[no-untyped-def]
    _, ref, job = _running_job(server, factory)
    url = f"{server.url}/{ref.full_name}/-/jobs/{job['id']}/log/stream"
    with _job_api(server, job) as api, httpx.Client(timeout=30) as client:
        offset = _append(api, 0, b"\x1b[32mline one\x1b[0m\n")
        with client.stream("GET", url) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            events = _events(resp)
            first = next(events)
            assert first["id"] == "0" and json.loads(first["data"]) == "\x1b[32mline one\x1b[0m\n"
            sync = next(events)
            assert sync["event"] == "sync" and json.loads(sync["data"])["status"] == "running"
            sent_at = time.monotonic()
            _append(api, offset, b"line two\r\n")
            second = next(events)
            assert time.monotonic() - sent_at < 0.5
            assert json.loads(second["data"]) == "line two\r\n" and int(second["id"]) == offset
            assert api.post("/state", json={"state": "success", "exit_code": 0}).json() == {"state": "success"}
            end = next(events)
            assert end["event"] == "end"
            assert json.loads(end["data"]) == {"status": "success", "label": "passed"}
            assert list(events) == []  # the server closed the stream
        # A reconnect after the first chunk gets the rest, and the end.
        with client.stream("GET", url, headers={"Last-Event-ID": "0"}) as resp:
            events = list(_events(resp))
        assert [json.loads(e["data"]) for e in events[:-1]] == ["line two\r\n"]
        assert events[-1]["event"] == "end"


def test_stream_of_a_pending_job_waits_for_output(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    job_id = make_job(server.engine, ref, tags="nobody-has-this-label")
    with httpx.Client(timeout=30) as client, \
            client.stream("GET", f"{server.url}/{ref.full_name}/-/jobs/{job_id}/log/stream") as resp:
        event = next(_events(resp))
        assert event["event"] == "sync" and json.loads(event["data"])["status"] == "pending"


def test_raw_log_and_privacy(server, factory, web):  # type: ignore[no-untyped-def]
    owner, ref, job = _running_job(server, factory, private=True)
    with _job_api(server, job) as api:
        _append(api, 0, b"secret build output\n")
    base = f"/{ref.full_name}/-/jobs/{job['id']}"
    for path in (f"{base}/log", f"{base}/log/stream"):
        assert web.get(path).status_code == 404  # anonymous
    outsider = factory.user()
    with web.as_user(outsider.name, PASSWORD) as other:
        assert other.get(f"{base}/log").status_code == 404
        assert other.get(f"{base}/log/stream").status_code == 404
    web.login(owner.name, PASSWORD)
    raw = web.get(f"{base}/log")
    assert raw.status_code == 200 and raw.text == "secret build output\n"
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    # A job of another repository is not found under this one.
    other_ref = factory.repo(owner)
    assert web.get(f"/{other_ref.full_name}/-/jobs/{job['id']}/log").status_code == 404
    assert web.get(f"/{ref.full_name}/-/jobs/999999999/log").status_code == 404


def test_job_page_renders_the_log_without_javascript(server, factory, web):  # type: ignore[no-untyped-def]
    _, ref, job = _running_job(server, factory)
    text = (b"\x1b[0Ksection_start:1700000000:build[collapsed=true]\r\x1b[0KBuilding <app>\n"
            b"\x1b[31merror\x1b[0m here\n\x1b[0Ksection_end:1700000001:build\r\x1b[0K\nafter\n")
    with _job_api(server, job) as api:
        _append(api, 0, text)
    page = web.get(f"/{ref.full_name}/-/jobs/{job['id']}")
    assert page.status_code == 200
    html = page.text
    assert '<details class="log-section" data-section="build"><summary>Building &lt;app&gt;</summary>' in html
    assert '<span class="ansi-fg-1">error</span> here\n</details>after\n' in html
    assert f'data-stream-url="/{ref.full_name}/-/jobs/{job["id"]}/log/stream"' in html
    assert '<script src="/static/joblog.js" defer></script>' in html
    assert web.get("/static/joblog.js").status_code == 200
