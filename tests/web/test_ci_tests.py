"""Test reports and coverage over the live server: a runner (real HTTP, the runner protocol) takes a job, sends its
log, uploads JUnit files through the artifact endpoint and reports the result; the Tests tab, the job page, the
pipelines list and the coverage trend then show what a person expects."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx

from ci.models import FAILED, SUCCESS
from ci.tokens import Scope
from tests.ci.runner_helpers import get_job, job_spec, make_job, make_pipeline, registration_token, set_job
from tests.factories import PASSWORD, unique

API = "/api/v1/runners"
FIXTURES = Path(__file__).parent.parent / "ci" / "fixtures" / "junit"
COVERAGE_REGEX = r"TOTAL.+ ([0-9]{1,3}%)"


def _api(server: Any, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + API, headers=headers, timeout=60)


class Setup:
    def __init__(self, server: Any, factory: Any, private: bool = False) -> None:
        """A repository with its own runner, whose unique label the test's jobs carry as a tag (so no runner of
        another test takes them)."""
        self.server = server
        self.owner = factory.user()
        self.ref = factory.repo(self.owner, private=private)
        self.label = unique("lbl")
        self.runner = _register(server, registration_token(server.engine, self.owner, Scope.repo(self.ref.repo)),
                                self.label)

    def job(self, pipeline_id: int, **kwargs: Any) -> int:
        kwargs.setdefault("spec", _spec())
        return make_job(self.server.engine, self.ref, pipeline_id, tags=self.label, **kwargs)


def _register(server: Any, secret: str, label: str) -> str:
    with _api(server) as c:
        resp = c.post("/register", json={"registration_token": secret, "name": unique("r"), "labels": [label],
                                         "concurrency": 1, "executor": "shell", "version": "test"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def _spec(**extra: Any) -> dict[str, Any]:
    extra.setdefault("coverage", COVERAGE_REGEX)
    return job_spec(["pytest"],
                    artifacts={"name": "", "paths": [], "exclude": [], "untracked": False, "when": "always",
                               "expire_in": None, "expose_as": "", "reports": {"junit": ["report.xml"]}}, **extra)


def _take(server: Any, runner_token: str) -> dict[str, Any]:
    with _api(server, runner_token) as c:
        resp = c.post("/jobs/request", json={"wait": 5})
    assert resp.status_code == 200, resp.text
    payload: dict[str, Any] = resp.json()
    return payload


def _complete(server: Any, payload: dict[str, Any], *, log: bytes, reports: dict[str, bytes], state: str) -> None:
    """What a runner does with a job it took: send its log, upload its JUnit files, report the result."""
    job_id = payload["id"]
    with _api(server, payload["token"]) as c:
        assert c.post(f"/jobs/{job_id}/state", json={"state": "running"}).status_code == 200
        resp = c.put(f"/jobs/{job_id}/log?offset=0", content=log)
        assert resp.status_code == 200, resp.text
        for filename, data in reports.items():
            resp = c.put(f"/jobs/{job_id}/artifacts", params={"type": "junit", "filename": filename}, content=data)
            assert resp.status_code == 201, resp.text
        body: dict[str, Any] = {"state": state}
        if state == FAILED:
            body.update(exit_code=1, failure_reason="script_failure")
        resp = c.post(f"/jobs/{job_id}/state", json=body)
        assert resp.status_code == 200 and resp.json()["state"] == state, resp.text


def _run(server: Any, runner_token: str, job_id: int, *, log: bytes, reports: dict[str, bytes], state: str) -> None:
    """Take ``job_id`` (the only job the runner may take) and complete it."""
    payload = _take(server, runner_token)
    assert payload["id"] == job_id
    _complete(server, payload, log=log, reports=reports, state=state)


def _junit(cases: dict[str, str], suite: str = "pytest") -> bytes:
    """A pytest-style report: {name: "passed" | "failed" | "error" | "skipped"}."""
    body = []
    for name, status in cases.items():
        inner = {"passed": "", "failed": f'<failure message="assert {name}">trace of {name}</failure>',
                 "error": f'<error message="setup of {name}">error trace</error>',
                 "skipped": '<skipped message="later"/>'}[status]
        body.append(f'<testcase classname="tests.test_app" name="{name}" time="0.01">{inner}</testcase>')
    return f'<testsuites><testsuite name="{suite}">{"".join(body)}</testsuite></testsuites>'.encode()


def _failure_items(html: str) -> dict[str, str]:
    """The Tests tab's failure list: case name → "new" or "already"."""
    section = html.split('class="plain ci-test-failures"', 1)[1].split("</ul>", 1)[0]
    out = {}
    for item in section.split("<li>")[1:]:
        name = re.search(r'class="ci-test-name">([^<]+)<', item)
        assert name is not None, item
        out[name.group(1)] = "new" if "ci-test-new" in item else "already"
    return out


def test_a_failing_case_shows_on_the_tests_tab_the_job_page_and_the_list(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory)
    ref, runner = t.ref, t.runner
    pipeline_id = make_pipeline(server.engine, ref, sha="a" * 40, branch="main")
    job_id = t.job(pipeline_id)
    log = (b"$ pytest --cov\n\x1b[32m5 collected\x1b[0m\nName    Stmts   Miss  Cover\n"
           b"TOTAL     120     30    75%\n\x1b[31m1 failed, 2 passed, 1 skipped, 1 error\x1b[0m\n")
    _run(server, runner, job_id, log=log, reports={"report.xml": (FIXTURES / "pytest.xml").read_bytes()},
         state=FAILED)
    job = get_job(server.engine, job_id)
    assert job.status == FAILED and job.coverage == 75.0

    base = f"/{ref.full_name}/-"
    tab = web.get(f"{base}/pipelines/{pipeline_id}/tests")
    assert tab.status_code == 200, tab.text[:500]
    assert 'tests" class="active" aria-current="page">Tests <span class="badge">5</span>' in tab.text
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", tab.text))
    assert totals["Tests"] == "5" and totals["Passed"] == "2" and totals["Failed"] == "1"
    assert totals["Errors"] == "1" and totals["Skipped"] == "1" and totals["Coverage"] == "75.00%"
    # Failures first, with the message in a <details>; nothing to compare with yet, so both are new.
    assert _failure_items(tab.text) == {"test_divide[0-1]": "new", "test_connect": "new"}
    assert re.search(r"<details[^>]*>\s*<summary>.*?test_divide\[0-1\].*?</summary>.*?"
                     r"ZeroDivisionError: division by zero.*?</details>", tab.text, re.S)
    assert "No finished pipeline of the default branch with test reports" in tab.text
    assert "test_add" not in tab.text  # passing cases only when a job's cases are opened
    cases = web.get(f"{base}/pipelines/{pipeline_id}/tests?job={job_id}")
    assert "test_add" in cases.text and "test_中文_名称" in cases.text and "打印输出 ✓" in cases.text
    names = re.findall(r'class="ci-test-name">([^<]+)<', cases.text.split('id="ci-tests-cases"', 1)[1])
    assert names[:2] == ["test_divide[0-1]", "test_connect"]  # failed, then error, then the rest

    jobs_tab = web.get(f"{base}/pipelines/{pipeline_id}")
    assert f'href="{base}/pipelines/{pipeline_id}/tests">Tests <span class="badge">5</span>' in jobs_tab.text
    assert "Coverage <strong>75.00%</strong>" in jobs_tab.text

    job_page = web.get(f"{base}/jobs/{job_id}")
    assert job_page.status_code == 200
    block = job_page.text.split('class="ci-job-tests"', 1)[1].split("</section>", 1)[0]
    assert "Coverage: <strong>75.00%</strong>" in block
    assert "5 tests:" in block and "1 failed" in block and "1 error" in block
    assert "test_divide[0-1]" in block and "test_connect" in block and "test_add" not in block
    assert f'href="/{ref.full_name}/-/pipelines/{pipeline_id}/tests?job={job_id}"' in block

    listing = web.get(f"{base}/pipelines")
    row = listing.text.split(f'href="{base}/pipelines/{pipeline_id}"', 1)[1].split("</tr>", 1)[0]
    cell = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", row.split('class="ci-tests-cell"', 1)[1]))
    assert "5 tests, 1 failed, 1 error" in cell and "coverage 75.00%" in cell


def test_new_failures_are_told_from_those_the_default_branch_already_has(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory)
    ref, runner = t.ref, t.runner
    main = make_pipeline(server.engine, ref, sha="b" * 40, branch="main")
    job = t.job(main)
    _run(server, runner, job, log=b"ok\n", state=FAILED,
         reports={"report.xml": _junit({"test_a": "failed", "test_b": "failed", "test_c": "passed"})})

    feature = make_pipeline(server.engine, ref, sha="c" * 40, branch="feature")
    job = t.job(feature)
    _run(server, runner, job, log=b"ok\n", state=FAILED,
         reports={"report.xml": _junit({"test_a": "failed", "test_b": "passed", "test_c": "error",
                                        "test_d": "passed"})})

    tab = web.get(f"/{ref.full_name}/-/pipelines/{feature}/tests")
    assert tab.status_code == 200
    assert f"Compared with pipeline #{main} of the default branch main:" in tab.text
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", tab.text.split('class="small ci-tests-base"', 1)[1]
                                         .split("</p>", 1)[0]))
    assert "1 new failure, 1 already failing, 1 fixed." in summary
    assert _failure_items(tab.text) == {"test_c": "new", "test_a": "already"}
    # New failures are listed first: they are what this change broke.
    assert list(_failure_items(tab.text)) == ["test_c", "test_a"]
    job_page = web.get(f"/{ref.full_name}/-/jobs/{job}")
    block = job_page.text.split('class="ci-job-tests"', 1)[1].split("</section>", 1)[0]
    assert "new failure" in block and "already failing" in block

    # A later pipeline of the default branch compares with the earlier one, not with itself.
    later = make_pipeline(server.engine, ref, sha="d" * 40, branch="main")
    job = t.job(later)
    _run(server, runner, job, log=b"ok\n", state=FAILED, reports={"report.xml": _junit({"test_a": "failed"})})
    tab = web.get(f"/{ref.full_name}/-/pipelines/{later}/tests")
    assert f"Compared with pipeline #{main} of the default branch main:" in tab.text
    assert _failure_items(tab.text) == {"test_a": "already"}


def test_a_retried_job_counts_once_with_its_latest_attempt(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory)
    owner, ref, runner = t.owner, t.ref, t.runner
    pipeline_id = make_pipeline(server.engine, ref, sha="e" * 40, branch="main")
    first = t.job(pipeline_id)
    _run(server, runner, first, log=b"TOTAL 1 1 40%\n", state=FAILED,
         reports={"report.xml": _junit({"test_x": "failed", "test_y": "passed"})})
    web.login(owner.name, PASSWORD)
    resp = web.submit(f"/{ref.full_name}/-/jobs/{first}", f"/{ref.full_name}/-/jobs/{first}/retry", {})
    assert resp.status_code in (200, 303), resp.text[:300]
    retry = next(j for j in _pipeline_job_ids(server, pipeline_id) if j != first)
    _run(server, runner, retry, log=b"TOTAL 1 0 60%\n", state=SUCCESS,
         reports={"report.xml": _junit({"test_x": "passed", "test_y": "passed"})})
    tab = web.get(f"/{ref.full_name}/-/pipelines/{pipeline_id}/tests")
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", tab.text))
    assert totals["Tests"] == "2" and totals["Failed"] == "0" and totals["Coverage"] == "60.00%"
    assert "ci-test-failures" not in tab.text


def _pipeline_job_ids(server: Any, pipeline_id: int) -> list[int]:
    from sqlmodel import select

    from ci.models import Job
    from forge.db.engine import session_scope

    with session_scope(server.engine) as s:
        return [j.id for j in s.exec(select(Job).where(Job.pipeline_id == pipeline_id)) if j.id is not None]


def test_a_broken_report_is_a_note_and_the_job_keeps_its_result(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory)
    ref, runner = t.ref, t.runner
    pipeline_id = make_pipeline(server.engine, ref, sha="f" * 40, branch="main")
    job_id = t.job(pipeline_id, spec=_spec(coverage="(unclosed"))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b'<testsuite><testcase name="&b;"/></testsuite>')
    _run(server, runner, job_id, log=b"TOTAL 1 1 50%\n", state=SUCCESS,
         reports={"a-broken.xml": b"Segmentation fault", "b-bomb.xml": bomb,
                  "c-good.xml": _junit({"test_ok": "passed"})})
    job = get_job(server.engine, job_id)
    assert job.status == SUCCESS and job.coverage is None  # an invalid coverage regex finds nothing
    tab = web.get(f"/{ref.full_name}/-/pipelines/{pipeline_id}/tests")
    assert tab.status_code == 200
    assert ("<code>a-broken.xml</code>: The file could not be parsed: it is not well-formed XML (line 1, column 0)."
            in tab.text)
    assert "<code>b-bomb.xml</code>: The file uses XML entities or external references" in tab.text
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", tab.text))
    assert totals["Tests"] == "1" and totals["Passed"] == "1"
    page = web.get(f"/{ref.full_name}/-/jobs/{job_id}")
    assert "a-broken.xml" in page.text and "ci-badge ci-success" in page.text


def test_tests_tab_of_a_pipeline_without_reports_and_on_a_private_repository(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory, private=True)
    owner, ref = t.owner, t.ref
    pipeline_id = make_pipeline(server.engine, ref, sha="1" * 40, branch="main")
    assert web.get(f"/{ref.full_name}/-/pipelines/{pipeline_id}/tests").status_code == 404
    assert web.get(f"/{ref.full_name}/-/graphs/coverage").status_code == 404
    assert web.get(f"/{ref.full_name}/-/graphs/coverage.csv").status_code == 404
    web.login(owner.name, PASSWORD)
    tab = web.get(f"/{ref.full_name}/-/pipelines/{pipeline_id}/tests")
    assert tab.status_code == 200 and "No test reports in this pipeline." in tab.text
    assert "junit: report.xml" in tab.text  # how to get one
    assert web.get(f"/{ref.full_name}/-/pipelines/999999999/tests").status_code == 404


def test_coverage_trend_chart_table_and_csv(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory)
    ref = t.ref
    figures = [(70.0, 80.0), (72.5, 81.5), (None, 90.0)]  # (unit, integration) per pipeline
    ids = []
    for i, (unit, integration) in enumerate(figures):
        pipeline_id = make_pipeline(server.engine, ref, sha=f"{i + 2}" * 40, branch="main")
        for name, value in (("unit", unit), ("integration", integration)):
            job_id = t.job(pipeline_id, name=name, status=SUCCESS)
            set_job(server.engine, job_id, coverage=value)
        ids.append(pipeline_id)
    # A pipeline still running (its job waits for a runner) is left out.
    running = make_pipeline(server.engine, ref, sha="9" * 40, branch="main")
    set_job(server.engine, t.job(running, name="unit"), coverage=1.0)
    with factory.session() as s:
        from sqlalchemy import update
        from sqlmodel import col

        from ci.models import Pipeline
        s.execute(update(Pipeline).where(col(Pipeline.id).in_(ids)).values(status=SUCCESS))

    page = web.get(f"/{ref.full_name}/-/graphs/coverage")
    assert page.status_code == 200, page.text[:500]
    assert "Code coverage of main" in page.text
    assert page.text.count('class="ci-chart-point"') == 3
    assert re.search(r'<svg viewBox="0 0 720 280" role="img" aria-labelledby="ci-coverage-chart-title"', page.text)
    assert "Coverage (%)" in page.text and re.search(r'class="ci-chart-line" d="M[\d.]+,[\d.]+ L', page.text)
    table = page.text.split('class="list ci-coverage-table"', 1)[1]
    rows = re.findall(r"#(\d+)</a></td>.*?<td>([\d.]+)%</td>", table, re.S)
    assert rows == [(str(ids[0]), "75.00"), (str(ids[1]), "77.00"), (str(ids[2]), "90.00")]  # averages

    unit = web.get(f"/{ref.full_name}/-/graphs/coverage?ref=main&job=unit")
    rows = re.findall(r"#(\d+)</a></td>.*?<td>([\d.]+)%</td>", unit.text.split("ci-coverage-table", 1)[1], re.S)
    assert rows == [(str(ids[0]), "70.00"), (str(ids[1]), "72.50")]
    assert '<option value="unit" selected>unit</option>' in unit.text

    resp = web.get(f"/{ref.full_name}/-/graphs/coverage.csv?ref=main")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == f'attachment; filename="coverage-{ref.repo.name}-main.csv"'
    lines = list(csv.reader(io.StringIO(resp.text)))
    assert lines[0] == ["pipeline_id", "created_at", "ref", "sha", "job", "coverage"]
    assert [(r[0], r[2], r[5]) for r in lines[1:]] == [(str(ids[0]), "main", "75.00"), (str(ids[1]), "main", "77.00"),
                                                        (str(ids[2]), "main", "90.00")]

    empty = web.get(f"/{ref.full_name}/-/graphs/coverage?ref=nothing-here")
    assert empty.status_code == 200 and "No coverage figures for this branch yet." in empty.text
    assert "<svg" not in empty.text.split("ci-coverage-form", 1)[1]


def test_the_test_report_api_in_gitlab_shapes(server, factory, web):  # type: ignore[no-untyped-def]
    t = Setup(server, factory, private=True)
    pipeline_id = make_pipeline(server.engine, t.ref, sha="7" * 40, branch="main")
    for index in (1, 2):
        t.job(pipeline_id, name=f"rspec {index}/2", spec=_spec(parallel={"index": index, "total": 2}))
    t.job(pipeline_id, name="lint", spec=_spec(parallel=None))
    results = {"rspec 1/2": _junit({"test_a": "passed", "test_b": "failed"}),
               "rspec 2/2": _junit({"test_c": "skipped", "test_d": "passed"}),
               "lint": b"not xml"}
    for _ in range(len(results)):  # whichever job the runner gets, it uploads that job's report
        payload = _take(server, t.runner)
        _complete(server, payload, log=b"ok\n", reports={"report.xml": results.pop(payload["name"])}, state=FAILED)
    assert results == {}

    api = f"/api/v1/repos/{t.ref.full_name}/pipelines/{pipeline_id}"
    assert web.get(f"{api}/test_report").status_code == 404  # private: not even its existence
    token = factory.token(t.owner, ["read:repo"])
    headers = {"Authorization": f"token {token}"}
    summary = web.get(f"{api}/test_report_summary", headers=headers)
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert body["total"] == {"time": 0.04, "count": 4, "success": 2, "failed": 1, "skipped": 1, "error": 0,
                             "suite_error": None}
    suites = {s["name"]: s for s in body["test_suites"]}
    assert set(suites) == {"rspec", "lint"}  # the parallel instances are one suite, as in GitLab
    assert suites["rspec"]["total_count"] == 4 and len(suites["rspec"]["build_ids"]) == 2
    assert suites["lint"]["total_count"] == 0
    assert suites["lint"]["suite_error"].startswith("report.xml: The file could not be parsed: it is not well-formed")

    full = web.get(f"{api}/test_report", headers=headers).json()
    assert (full["total_count"], full["success_count"], full["failed_count"]) == (4, 2, 1)
    rspec = next(s for s in full["test_suites"] if s["name"] == "rspec")
    assert [(c["name"], c["status"]) for c in rspec["test_cases"]] == [
        ("test_b", "failed"), ("test_c", "skipped"), ("test_a", "success"), ("test_d", "success")]
    assert rspec["test_cases"][0]["system_output"] == "assert test_b"
    assert rspec["test_cases"][0]["stack_trace"] == "trace of test_b"
    assert web.get(f"{api}/test_report", headers={"Authorization": "token nope"}).status_code == 401
    assert web.get(f"/api/v1/repos/{t.ref.full_name}/pipelines/999999999/test_report",
                   headers=headers).status_code == 404


def test_chart_geometry_has_round_ticks_and_keeps_points_inside() -> None:
    from datetime import UTC, datetime, timedelta

    from ci.coverage import Point
    from web.routes.ci_tests import chart

    day = datetime(2026, 3, 1, tzinfo=UTC)
    points = [Point(10 + i, "a" * 40, day + timedelta(hours=12 * i), v)
              for i, v in enumerate([55.2, 61.0, 70.4, 85.0, 84.9, 84.95, 83.0])]
    c = chart(points)
    assert c is not None
    assert [label for _, label in c.y_ticks] == ["50%", "60%", "70%", "80%", "90%"]
    assert all(c.left <= p.x <= c.right and c.top <= p.y <= c.bottom for p in c.points)
    assert c.points[0].x == c.left and c.points[-1].x == c.right
    # Higher coverage is drawn higher up.
    assert c.points[3].y < c.points[0].y
    # Each label names its pipeline; the date only where it changes.
    assert [(label, day_label) for _, label, day_label in c.x_ticks] == [
        ("#10", "03-01"), ("#12", "03-02"), ("#14", "03-03"), ("#16", "03-04")]
    assert c.path.startswith(f"M{float(c.left)},") and c.path.count("L") == 6
    single = chart([points[0]])
    assert single is not None and single.points[0].x == (single.left + single.right) / 2
    assert chart([]) is None
