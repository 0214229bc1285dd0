"""Storing parsed reports: rows and totals per job, replacing on a second call, GitLab's suite names for parallel
jobs, and the clean-up of old passing cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from ci import junit, test_reports
from ci.models import SUCCESS, Job
from ci.models.reports import JobTestCase, JobTestReport
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from tests.ci.runner_helpers import job_spec, make_job, make_pipeline, set_job

FIXTURES = Path(__file__).parent / "fixtures" / "junit"
NO_RUNNER = "no-runner-has-this-label"


def _job(server, factory, name: str = "test", **spec):  # type: ignore[no-untyped-def]
    ref = factory.repo(factory.user())
    pipeline_id = make_pipeline(server.engine, ref)
    return make_job(server.engine, ref, pipeline_id, name=name, tags=NO_RUNNER, spec=job_spec(**spec))


def _record(server, job_id: int, *files: tuple[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        test_reports.record_report(s, job, [junit.from_bytes(n, d) for n, d in files])


def _cases(server, job_id: int) -> list[JobTestCase]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        return list(s.exec(select(JobTestCase).where(JobTestCase.job_id == job_id).order_by(col(JobTestCase.id))))


def _report(server, job_id: int) -> JobTestReport | None:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        return s.exec(select(JobTestReport).where(JobTestReport.job_id == job_id)).first()


def test_rows_totals_and_notes_are_stored_and_a_second_call_replaces_them(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    _record(server, job_id, ("pytest.xml", (FIXTURES / "pytest.xml").read_bytes()), ("bad.xml", b"<oops"))
    report = _report(server, job_id)
    assert report is not None
    counts = (report.total, report.passed, report.failed, report.errored, report.skipped, report.files)
    assert counts == (5, 2, 1, 1, 1, 2)
    assert report.notes == [{"file": "bad.xml", "params": {"line": 1, "column": 0},
                             "message": "The file could not be parsed: it is not well-formed XML "
                                        "(line %(line)s, column %(column)s)."}]
    cases = _cases(server, job_id)
    assert [c.name for c in cases] == ["test_add", "test_divide[0-1]", "test_slow", "test_connect", "test_中文_名称"]
    failed = cases[1]
    assert failed.status == "failed" and failed.suite == "pytest" and failed.key == junit.case_key(
        "test", "tests.test_math", "test_divide[0-1]")
    assert {c.pipeline_id for c in cases} == {report.pipeline_id}

    _record(server, job_id, ("jest.xml", (FIXTURES / "jest.xml").read_bytes()))
    report = _report(server, job_id)
    assert report is not None and report.total == 3 and report.notes == []
    assert len(_cases(server, job_id)) == 3


def test_parallel_instances_share_a_suite_name_matrix_instances_do_not() -> None:
    parallel = Job(pipeline_id=1, repo_id=1, name="rspec 2/4", stage="test",
                   spec={"parallel": {"index": 2, "total": 4}})
    matrix = Job(pipeline_id=1, repo_id=1, name="test: [3.12, pg]", stage="test",
                 spec={"parallel": {"index": 1, "total": 4}})
    plain = Job(pipeline_id=1, repo_id=1, name="build 1/2", stage="test", spec={"parallel": None})
    assert test_reports.suite_name(parallel) == "rspec"
    assert test_reports.suite_name(matrix) == "test: [3.12, pg]"
    assert test_reports.suite_name(plain) == "build 1/2"  # a name that only looks like an instance


def test_the_case_limit_keeps_the_totals(server, factory, monkeypatch):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    monkeypatch.setattr(junit, "MAX_CASES", 1500)
    body = "".join(f'<testcase classname="c" name="t{i}"/>' for i in range(1600))
    _record(server, job_id, ("many.xml", f"<testsuite>{body}</testsuite>".encode()))
    report = _report(server, job_id)
    assert report is not None and report.total == 1600 and report.notes[0]["params"] == {"limit": 1500}
    assert len(_cases(server, job_id)) == 1500  # inserted in several batches


def test_old_passing_cases_are_pruned_failures_and_totals_stay(server, factory):  # type: ignore[no-untyped-def]
    old = _job(server, factory)
    recent = _job(server, factory)
    for job_id in (old, recent):
        _record(server, job_id, ("pytest.xml", (FIXTURES / "pytest.xml").read_bytes()))
    now = utcnow()
    days = test_reports.CASE_RETENTION_DAYS
    set_job(server.engine, old, status=SUCCESS, finished_at=now - timedelta(days=days + 1))
    set_job(server.engine, recent, status=SUCCESS, finished_at=now - timedelta(days=1))
    removed = test_reports.prune_passed_cases(server.engine, batch=2)
    assert removed >= 3  # the old job's two passing and one skipped case (other tests' old jobs may add some)
    assert sorted(c.status for c in _cases(server, old)) == ["error", "failed"]
    assert len(_cases(server, recent)) == 5
    report = _report(server, old)
    assert report is not None and report.total == 5
    assert test_reports.prune_passed_cases(server.engine) == 0  # nothing left to do
