"""Test reports (JUnit) and coverage of jobs and pipelines: recorded when a job finishes, read back for pages.

When a job finishes (``on_job_finished``, called by ``ci.job_hooks`` in the transaction that finishes it), its
JUnit uploads (artifacts of type ``junit``, stored by ``ci.artifacts``) are parsed by ``ci.junit`` into a
``JobTestReport`` and its ``JobTestCase`` rows, and its ``coverage`` regex is run over the end of its log
(``ci.coverage``). Nothing a job wrote can make finishing it fail: a bad file is a note on the report.

Passing and skipped cases of jobs that finished more than :data:`CASE_RETENTION_DAYS` ago are removed by a periodic
clean-up (the totals and the failures stay, and failures are all the comparison with the default branch needs), so
the case table does not grow without end on a busy repository.

A pipeline's tests are those of the latest attempt of each job (a retried job's earlier attempt no longer counts),
as in GitLab. A failure is "new" unless the same case (job suite name + class name + name, GitLab's key) failed in
the *base* pipeline: the latest finished pipeline with test reports on the repository's default branch (for a
pipeline of the default branch itself, the latest one before it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ci import artifacts, coverage, junit, logs
from ci.background import periodic
from ci.jobstate import latest_attempts
from ci.junit import Counts
from ci.models import DONE_STATES, Job, Pipeline
from ci.models.artifacts import Artifact
from ci.models.reports import ERROR, FAILED, PASSED, SKIPPED, JobTestCase, JobTestReport
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import NotFound
from forge.repos.models import Repository
from forge.settings import Settings

JOB_PAGE_FAILURES = 50  # failures listed on a job's page (the Tests tab lists more)
TAB_FAILURES = 500  # failures listed on the Tests tab
JOB_CASES = 2000  # cases listed when the Tests tab shows one job
_INSERT_BATCH = 1000
CASE_RETENTION_DAYS = 90
_PRUNE_BATCH = 5000
_PARALLEL_SUFFIX = re.compile(r" \d+/\d+$")
_STATUS_ORDER = {FAILED: 0, ERROR: 1, SKIPPED: 2, PASSED: 3}


# --- recording ------------------------------------------------------------------------------------------------


def suite_name(job: Job) -> str:
    """GitLab's test suite name of a job: ``test 2/4`` of ``parallel: 4`` is suite ``test`` (its instances are one
    suite); a ``parallel:matrix`` instance keeps its whole name."""
    parallel = (job.spec or {}).get("parallel")
    if parallel and not job.name.endswith("]"):
        return _PARALLEL_SUFFIX.sub("", job.name)
    return job.name


def _junit_files(session: Session, job: Job) -> list[junit.ReportFile]:
    """The job's JUnit uploads (``ci.artifacts`` keeps them), read only when the parser gets to them."""
    assert job.id is not None

    def reader(row: Artifact) -> Callable[[], bytes | None]:
        def read() -> bytes | None:
            try:
                return artifacts.open_artifact(session, row)
            except NotFound:
                return None
        return read

    return [junit.ReportFile(row.filename, row.size, reader(row)) for row in artifacts.job_reports(session, job.id)]


def record_report(session: Session, job: Job, files: Sequence[junit.ReportFile]) -> JobTestReport | None:
    """Parse ``files`` into ``job``'s test report, replacing one recorded before. None when there are no files."""
    assert job.id is not None
    session.execute(delete(JobTestCase).where(col(JobTestCase.job_id) == job.id))
    session.execute(delete(JobTestReport).where(col(JobTestReport.job_id) == job.id))
    if not files:
        return None
    report = junit.read_files(files)
    counts = report.counts
    row = JobTestReport(job_id=job.id, pipeline_id=job.pipeline_id, repo_id=job.repo_id, total=counts.total,
                        passed=counts.passed, failed=counts.failed, errored=counts.errored, skipped=counts.skipped,
                        duration=round(counts.duration, 3), files=report.files,
                        notes=[n.as_dict() for n in report.notes])
    session.add(row)
    suite = suite_name(job)
    values = [
        {"job_id": job.id, "pipeline_id": job.pipeline_id, "repo_id": job.repo_id,
         "key": junit.case_key(suite, c.classname, c.name), "suite": c.suite, "classname": c.classname,
         "name": c.name, "file": c.file, "duration": c.duration, "status": c.status, "message": c.message,
         "details": c.details, "output": c.output}
        for c in report.cases
    ]
    for start in range(0, len(values), _INSERT_BATCH):
        session.execute(insert(JobTestCase), values[start : start + _INSERT_BATCH])
    session.flush()
    return row


def record_coverage(session: Session, job: Job) -> float | None:
    """Run the job's ``coverage`` regex over the end of its log; store and return the figure (None: no match)."""
    pattern = (job.spec or {}).get("coverage")
    if not pattern or not isinstance(pattern, str):
        return None
    text, _, _ = logs.read_end(session, job, coverage.LOG_TAIL_BYTES)
    value = coverage.extract(text.decode("utf-8", "replace"), pattern)
    if value is not None:
        job.coverage = value
        session.add(job)
    return value


def on_job_finished(session: Session, job: Job) -> None:
    """Parse the job's uploaded JUnit reports and extract its coverage."""
    record_coverage(session, job)
    files = _junit_files(session, job)
    if files:
        record_report(session, job, files)


def prune_passed_cases(engine: Engine, now: datetime | None = None, batch: int = _PRUNE_BATCH) -> int:
    """Remove passing and skipped cases of jobs finished more than CASE_RETENTION_DAYS ago; how many were removed.
    Safe in several workers at once (deleting rows another worker deleted is a no-op)."""
    cutoff = (now or utcnow()) - timedelta(days=CASE_RETENTION_DAYS)
    old_jobs = select(Job.id).where(col(Job.finished_at) < cutoff)
    removed = 0
    while True:
        with session_scope(engine) as session:
            ids = select(JobTestCase.id).where(col(JobTestCase.status).in_((PASSED, SKIPPED)),
                                               col(JobTestCase.job_id).in_(old_jobs)).limit(batch)
            result = session.execute(delete(JobTestCase).where(col(JobTestCase.id).in_(ids)))
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        removed += count
        if count < batch:
            return removed


@periodic(3600)
def _prune(engine: Engine, settings: Settings) -> None:
    prune_passed_cases(engine)


# --- reading --------------------------------------------------------------------------------------------------


def _latest_job_ids(session: Session, pipeline_ids: Sequence[int]) -> dict[int, list[int]]:
    """For each pipeline, the ids of the latest attempt of each of its jobs."""
    newest: dict[tuple[int, str], int] = {}
    for pipeline_id, name, job_id in session.exec(
        select(Job.pipeline_id, Job.name, Job.id).where(col(Job.pipeline_id).in_(pipeline_ids))
    ):
        if job_id is not None and job_id > newest.get((pipeline_id, name), 0):
            newest[(pipeline_id, name)] = job_id
    out: dict[int, list[int]] = {}
    for (pipeline_id, _), job_id in newest.items():
        out.setdefault(pipeline_id, []).append(job_id)
    return out


def _counts(report: JobTestReport) -> Counts:
    return Counts(report.total, report.passed, report.failed, report.errored, report.skipped, report.duration)


def pipeline_counts(session: Session, pipeline_ids: Sequence[int]) -> dict[int, Counts]:
    """The test counts of each of these pipelines that has test reports (latest attempts only)."""
    if not pipeline_ids:
        return {}
    latest = {job_id for ids in _latest_job_ids(session, pipeline_ids).values() for job_id in ids}
    out: dict[int, Counts] = {}
    for report in session.exec(select(JobTestReport).where(col(JobTestReport.pipeline_id).in_(pipeline_ids))):
        if report.job_id in latest:
            out.setdefault(report.pipeline_id, Counts()).merge(_counts(report))
    return out


def base_pipeline(session: Session, pipeline: Pipeline) -> Pipeline | None:
    """The pipeline failures are compared with (see the module docstring)."""
    repo = session.get(Repository, pipeline.repo_id)
    if repo is None:
        return None
    with_reports = select(JobTestReport.pipeline_id).where(JobTestReport.repo_id == pipeline.repo_id)
    stmt = select(Pipeline).where(
        Pipeline.repo_id == pipeline.repo_id, Pipeline.ref == repo.default_branch, Pipeline.ref_kind == "branch",
        col(Pipeline.status).in_(DONE_STATES), col(Pipeline.id) != pipeline.id,
        col(Pipeline.id).in_(with_reports),
    )
    if pipeline.ref == repo.default_branch and pipeline.ref_kind == "branch":
        stmt = stmt.where(col(Pipeline.id) < pipeline.id)
    return session.exec(stmt.order_by(col(Pipeline.id).desc()).limit(1)).first()


def failing_keys(session: Session, pipeline_id: int) -> set[str]:
    """Keys of the cases that failed or errored in the latest attempts of the pipeline's jobs."""
    latest = _latest_job_ids(session, [pipeline_id]).get(pipeline_id, [])
    if not latest:
        return set()
    return set(session.exec(
        select(JobTestCase.key).where(col(JobTestCase.job_id).in_(latest),
                                      col(JobTestCase.status).in_((FAILED, ERROR)))
    ))


def _keys_by_status(session: Session, job_ids: list[int]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if job_ids:
        for key, status in session.exec(
            select(JobTestCase.key, JobTestCase.status).where(col(JobTestCase.job_id).in_(job_ids))
        ):
            out.setdefault(status, []).append(key)
    return out


@dataclass(frozen=True)
class Failure:
    case: JobTestCase
    job: Job
    new: bool  # False: it failed in the base pipeline as well


@dataclass
class JobTests:
    job: Job
    report: JobTestReport
    counts: Counts


@dataclass
class PipelineTests:
    counts: Counts
    jobs: list[JobTests]
    failures: list[Failure]
    failures_more: int  # failures not listed (past TAB_FAILURES)
    new_failures: int  # of all the failures, listed or not
    already_failing: int
    fixed: int  # cases that failed in the base pipeline and pass now
    base: Pipeline | None
    coverage: float | None
    job_cases: list[JobTestCase] = field(default_factory=list)  # when one job is shown
    job_cases_more: int = 0
    job_cases_pruned: bool = False  # the shown job is old enough for its passing cases to have been removed


def _failures(session: Session, jobs: dict[int, Job], base_keys: set[str], limit: int) -> tuple[list[Failure], int]:
    if not jobs:
        return [], 0
    ids = list(jobs)
    failing = col(JobTestCase.status).in_((FAILED, ERROR))
    total = session.exec(
        select(func.count()).select_from(JobTestCase).where(col(JobTestCase.job_id).in_(ids), failing)
    ).one()
    rows = session.exec(
        select(JobTestCase).where(col(JobTestCase.job_id).in_(ids), failing)
        .order_by(col(JobTestCase.job_id), col(JobTestCase.id)).limit(limit)
    ).all()
    failures = [Failure(c, jobs[c.job_id], c.key not in base_keys) for c in rows]
    # New failures first: they are what this change broke.
    failures.sort(key=lambda f: (not f.new, f.job.stage_index, f.job.name))
    return failures, total - len(failures)


def pipeline_tests(session: Session, pipeline: Pipeline, job_id: int | None = None) -> PipelineTests:
    """Everything the pipeline's Tests tab shows; with ``job_id``, also that job's cases (failures first)."""
    assert pipeline.id is not None
    jobs = latest_attempts(session.exec(select(Job).where(Job.pipeline_id == pipeline.id)).all())
    by_id = {j.id: j for j in jobs if j.id is not None}
    reports = {r.job_id: r for r in session.exec(
        select(JobTestReport).where(col(JobTestReport.job_id).in_(list(by_id))))}
    rows = [JobTests(by_id[job_id], report, _counts(report)) for job_id, report in reports.items()]
    rows.sort(key=lambda r: (-r.counts.failing, r.job.stage_index, r.job.name))
    total = Counts()
    for row in rows:
        total.merge(row.counts)
    base = base_pipeline(session, pipeline)
    base_keys = failing_keys(session, base.id) if base is not None and base.id is not None else set()
    reported = {job_id: by_id[job_id] for job_id in reports}
    failures, more = _failures(session, reported, base_keys, TAB_FAILURES)
    # Counted over every case in Python rather than with "key IN (...)": the base may have thousands of failures,
    # more than a statement can carry as parameters.
    keys = _keys_by_status(session, list(reported))
    failing_now = keys.get(FAILED, []) + keys.get(ERROR, [])
    already = sum(1 for key in failing_now if key in base_keys)
    fixed = len(base_keys & set(keys.get(PASSED, []))) if base_keys else 0
    view = PipelineTests(total, rows, failures, more, len(failing_now) - already, already, fixed, base,
                         coverage.pipeline_coverage(session, [pipeline.id]).get(pipeline.id))
    if job_id is not None and job_id in reports:
        # Failures first, in the database: a job may have tens of thousands of cases, only JOB_CASES are loaded.
        order = case(_STATUS_ORDER, value=col(JobTestCase.status), else_=9)
        view.job_cases = list(session.exec(
            select(JobTestCase).where(JobTestCase.job_id == job_id).order_by(order, col(JobTestCase.id))
            .limit(JOB_CASES)
        ))
        view.job_cases_more = max(reports[job_id].total - len(view.job_cases), 0)
        finished = by_id[job_id].finished_at
        view.job_cases_pruned = finished is not None and finished < utcnow() - timedelta(days=CASE_RETENTION_DAYS)
    return view


# --- page facts (merged into the pages' contexts by web/routes/ci_pipelines.py) ----------------------------------


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    """The job page's test block: the job's report, its failures (new ones marked) and coverage."""
    report = session.exec(select(JobTestReport).where(JobTestReport.job_id == job.id)).first()
    if report is None:
        return {"test_report": None, "test_failures": [], "test_failures_more": 0}
    pipeline = session.get(Pipeline, job.pipeline_id)
    base = base_pipeline(session, pipeline) if pipeline is not None else None
    base_keys = failing_keys(session, base.id) if base is not None and base.id is not None else set()
    assert job.id is not None
    failures, more = _failures(session, {job.id: job}, base_keys, JOB_PAGE_FAILURES)
    return {"test_report": report, "test_failures": failures, "test_failures_more": more, "test_base": base}


def pipeline_facts(session: Session, pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline page's tab bar: the test count of the "Tests" tab and the pipeline's coverage."""
    assert pipeline.id is not None
    return {
        "test_counts": pipeline_counts(session, [pipeline.id]).get(pipeline.id),
        "pipeline_coverage": coverage.pipeline_coverage(session, [pipeline.id]).get(pipeline.id),
    }


def list_facts(session: Session, pipelines: Sequence[Pipeline]) -> dict[str, Any]:
    """The pipelines list's test cells: counts and coverage per pipeline id."""
    ids = [p.id for p in pipelines if p.id is not None]
    return {"test_counts": pipeline_counts(session, ids),
            "pipeline_coverages": coverage.pipeline_coverage(session, ids)}


# --- the JSON API (GitLab's "pipeline test report" shapes) -------------------------------------------------------


def _note_text(note: dict[str, Any]) -> str:
    message = str(note.get("message", ""))
    params = note.get("params") or {}
    text = message % params if params else message
    return f"{note['file']}: {text}" if note.get("file") else text


def report_json(session: Session, pipeline: Pipeline, with_cases: bool) -> dict[str, Any]:
    """The pipeline's test report as GitLab's API gives it: totals and one suite per job suite name (the instances
    of a ``parallel`` job are one suite); with ``with_cases``, each suite's cases, failures first. GitLab's status
    names: ``success``, ``failed``, ``error``, ``skipped``."""
    assert pipeline.id is not None
    jobs = latest_attempts(session.exec(select(Job).where(Job.pipeline_id == pipeline.id)).all())
    by_id = {j.id: j for j in jobs if j.id is not None}
    reports = {r.job_id: r for r in session.exec(
        select(JobTestReport).where(col(JobTestReport.job_id).in_(list(by_id))))}
    suites: dict[str, dict[str, Any]] = {}
    total = Counts()
    for job in jobs:
        report = reports.get(job.id or 0)
        if report is None:
            continue
        counts = _counts(report)
        total.merge(counts)
        suite = suites.setdefault(suite_name(job), {"counts": Counts(), "build_ids": [], "errors": []})
        suite["counts"].merge(counts)
        suite["build_ids"].append(job.id)
        suite["errors"].extend(_note_text(n) for n in report.notes)
    cases: dict[str, list[dict[str, Any]]] = {}
    if with_cases and reports:
        order = case(_STATUS_ORDER, value=col(JobTestCase.status), else_=9)
        for row in session.exec(select(JobTestCase).where(col(JobTestCase.job_id).in_(list(reports)))
                                .order_by(order, col(JobTestCase.job_id), col(JobTestCase.id))):
            cases.setdefault(suite_name(by_id[row.job_id]), []).append({
                "status": "success" if row.status == PASSED else row.status, "name": row.name,
                "classname": row.classname, "file": row.file or None, "execution_time": row.duration or 0.0,
                "system_output": row.message or None, "stack_trace": row.details or None,
                "output": row.output or None})

    def numbers(c: Counts) -> dict[str, Any]:
        return {"total_time": round(c.duration, 3), "total_count": c.total, "success_count": c.passed,
                "failed_count": c.failed, "skipped_count": c.skipped, "error_count": c.errored}

    out_suites = []
    for name, suite in suites.items():
        entry = {"name": name, **numbers(suite["counts"]), "build_ids": suite["build_ids"],
                 "suite_error": "; ".join(suite["errors"]) or None}
        if with_cases:
            entry["test_cases"] = cases.get(name, [])
        out_suites.append(entry)
    if with_cases:
        return {**numbers(total), "test_suites": out_suites}
    summary = numbers(total)
    return {"total": {"time": summary["total_time"], "count": total.total, "success": total.passed,
                      "failed": total.failed, "skipped": total.skipped, "error": total.errored,
                      "suite_error": None},
            "test_suites": out_suites}
