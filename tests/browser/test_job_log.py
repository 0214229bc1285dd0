"""The live job log in a real browser (web/static/joblog.js): colours and collapsible sections, new lines arriving
while the page is open, following the end unless the reader scrolled up, the final status, and a 100,000-line log."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from ci import logs
from ci.models import Job
from ci.tokens import Scope
from forge.db.engine import session_scope
from tests.ci.runner_helpers import make_job, make_pipeline, register, registration_token
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

API = "/api/v1/runners"


def _running_job(server: LiveServer, factory: Any) -> tuple[Any, dict[str, Any]]:
    e = server.engine
    owner = factory.user()
    ref = factory.repo(owner)
    runner = register(e, registration_token(e, owner, Scope.repo(ref.repo)))
    make_job(e, ref, make_pipeline(e, ref), tags=runner.label)
    resp = httpx.post(f"{server.url}{API}/jobs/request", json={"wait": 5},
                      headers={"Authorization": f"Bearer {runner.token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return ref, resp.json()


class JobApi:
    def __init__(self, server: LiveServer, job: dict[str, Any]) -> None:
        self.client = httpx.Client(base_url=f"{server.url}{API}/jobs/{job['id']}",
                                   headers={"Authorization": f"Bearer {job['token']}"}, timeout=60)
        self.offset = 0

    def write(self, data: bytes) -> None:
        resp = self.client.put("/log", params={"offset": self.offset}, content=data)
        assert resp.status_code == 200, resp.text
        self.offset = resp.json()["length"]

    def finish(self, state: str = "success") -> None:
        assert self.client.post("/state", json={"state": state, "exit_code": 0}).status_code == 200

    def __enter__(self) -> JobApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def test_live_log_in_the_browser(page: Page, server: LiveServer, factory: Any) -> None:
    ref, job = _running_job(server, factory)
    with JobApi(server, job) as api:
        api.write(b"\x1b[0Ksection_start:1700000000:prepare[collapsed=true]\r\x1b[0KPreparing\n"
                  b"hidden detail\n\x1b[0Ksection_end:1700000001:prepare\r\x1b[0K\n\x1b[31mred line\x1b[0m\n")
        page.goto(f"/{ref.full_name}/-/jobs/{job['id']}")
        log = page.locator("section.job-log")
        expect(log.locator("[data-log-state]")).to_contain_text("Showing the log live")
        output = log.locator("pre[data-log-output]")
        expect(output.locator("span.ansi-fg-1")).to_have_text("red line")
        section = output.locator("details.log-section[data-section=prepare]")
        expect(section.locator("summary")).to_have_text("Preparing")
        assert section.get_attribute("open") is None  # collapsed=true
        expect(section).not_to_contain_text("hidden detail", use_inner_text=True)
        section.locator("summary").click()
        expect(section).to_contain_text("hidden detail", use_inner_text=True)

        # A line written now appears without reloading; a section opened live collects what follows it.
        started = time.monotonic()
        api.write(b"\x1b[0Ksection_start:1700000002:test\r\x1b[0K\x1b[1mRunning tests\x1b[0m\nok 1\n")
        expect(output.locator("details.log-section[data-section=test] summary")).to_have_text("Running tests")
        assert time.monotonic() - started < 3
        api.write(b"ok 2\n")
        expect(output.locator("details.log-section[data-section=test]")).to_contain_text("ok 2")

        # The view follows the end while the reader is there...
        api.write(b"".join(b"line %d\n" % i for i in range(400)))
        expect(output).to_contain_text("line 399")
        page.wait_for_function(
            "() => { const p = document.querySelector('pre[data-log-output]');"
            " return p.scrollTop + p.clientHeight >= p.scrollHeight - 10; }")
        # ...but not after the reader scrolled up.
        output.evaluate("p => { p.scrollTop = 0; }")
        api.write(b"".join(b"more %d\n" % i for i in range(200)))
        expect(output).to_contain_text("more 199")
        assert output.evaluate("p => p.scrollTop") == 0

        api.write(b"\x1b[0Ksection_end:1700000009:test\r\x1b[0K\nJob succeeded\n")
        api.finish()
        expect(log.locator("[data-log-state]")).to_contain_text("The job finished: passed")
        assert log.get_attribute("data-status") == "success"
        # The facts above the log follow without a reload: the badge says passed, the exit code is there.
        expect(page.locator("section.ci-head .ci-badge")).to_contain_text("passed")
        expect(page.locator("section.ci-head")).to_contain_text("Exit code")
        expect(output).to_contain_text("Job succeeded")
        text = output.inner_text()
        assert text.count("line 1\n") == 1 and text.count("ok 2") == 1  # nothing twice


def test_a_log_of_100k_lines(page: Page, server: LiveServer, factory: Any) -> None:
    ref, job = _running_job(server, factory)
    lines = b"".join(b"\x1b[32m%06d\x1b[0m a line of build output\n" % i for i in range(100_000))
    with session_scope(server.engine) as s:  # stored in 64 KiB chunks, as a runner sending often would
        for start in range(0, len(lines), 65536):
            logs.append(s, job["id"], start, lines[start : start + 65536], [])
    with JobApi(server, job) as api:
        api.offset = len(lines)
        api.finish()
    with session_scope(server.engine) as s:
        stored = s.get(Job, job["id"])
        assert stored is not None and stored.log_length == len(lines)
    started = time.monotonic()
    page.goto(f"/{ref.full_name}/-/jobs/{job['id']}")
    expect(page.locator("section.job-log[data-stream=ended]")).to_have_count(1, timeout=60_000)
    # The job had finished before the page was opened: no "reload the page" message for it.
    expect(page.locator("[data-log-state]")).not_to_contain_text("The job finished")
    elapsed = time.monotonic() - started
    output = page.locator("pre[data-log-output]")
    expected = "".join(f"{i:06d} a line of build output\n" for i in range(100_000))
    assert output.evaluate("p => p.textContent.length") == len(expected)
    assert output.evaluate("p => p.textContent.split('\\n').length") == 100_001
    assert output.evaluate("p => p.textContent.endsWith('099999 a line of build output\\n')")
    # Every line number is green (a piece boundary may split one green run into two spans).
    green = output.evaluate("p => Array.from(p.querySelectorAll('span.ansi-fg-2'), s => s.textContent).join('')")
    assert green == "".join(f"{i:06d}" for i in range(100_000))
    # Scrolled to the end, and quick enough to read (the whole log is about 4 MiB).
    assert output.evaluate("p => p.scrollTop + p.clientHeight >= p.scrollHeight - 10")
    assert elapsed < 30, elapsed
