"""The ``coverage`` keyword: the figure GitLab's rule finds in a job's log, with the regexes GitLab documents for
common tools against those tools' real output; pipeline averages over the latest attempts; the hook on a real
stored log."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from ci import coverage, logs, test_reports
from ci.coverage import extract
from ci.models import SUCCESS, Job
from forge.db.engine import session_scope
from tests.ci.runner_helpers import job_spec, make_job, make_pipeline, set_job

PYTEST_COV = """\
---------- coverage: platform linux, python 3.12.1-final-0 -----------
Name                 Stmts   Miss  Cover
----------------------------------------
app/__init__.py          4      0   100%
app/models.py           52      6    88%
----------------------------------------
TOTAL                  56      6    89%
"""


@pytest.mark.parametrize(("regex", "log", "expected"), [
    # The regexes GitLab's documentation gives for common tools, against those tools' output.
    (r"TOTAL.*? (100(?:\.0+)?\%|[1-9]?\d(?:\.\d+)?\%)$", PYTEST_COV, 89.0),
    (r"Line\sCoverage:\s\d+\.\d+%", "Coverage report generated. Line Coverage: 91.35% (1234 / 1351)\n", 91.35),
    (r"^TOTAL.*\s+(\d+\%)$", "lines: 70.0% (7 out of 10)\nTOTAL                       10       7    70%\n", 70.0),
    (r"^\d+.\d+% coverage", "|| src/lib.rs: 40/50\n|| \n80.00% coverage, 40/50 lines covered\n", 80.0),
    # JaCoCo's summary row: the first percentage (instructions) is the one the regex captures.
    (r"Total.*?([0-9]{1,3})%", "Total 1,234 of 5,678 72% 12 of 40 70%\n", 72.0),
    (r"coverage: \d+.\d+% of statements", "ok  \texample.com/app\t0.012s\tcoverage: 83.5% of statements\n", 83.5),
    (r"All files[^|]*\|[^|]*\s+([\d\.]+)",
     "----------|---------|----------|\nFile      | % Stmts | % Branch |\nAll files |   85.71 |    66.67 |\n", 85.71),
])
def test_documented_regexes_on_real_tool_output(regex: str, log: str, expected: float) -> None:
    assert extract(log, regex) == expected


def test_the_last_matching_line_wins_and_its_last_match() -> None:
    log = "Coverage: 10%\nsomething\nCoverage: 20% then Coverage: 30%\ntrailing line\n"
    assert extract(log, r"Coverage: \d+%") == 30.0


def test_a_capture_group_gives_the_text_to_read_the_number_from() -> None:
    # Without the group the first number of the match would be "3" (from "python3").
    assert extract("python3 report: 87.5% covered\n", r"python\d report: (\d+\.\d+)%") == 87.5
    # The first number in the match is taken: "12 of 16 (75%)" gives 12, as GitLab does.
    assert extract("lines 12 of 16 (75%)\n", r"lines \d+ of \d+ \(\d+%\)") == 12.0


def test_lines_whose_match_has_no_number_are_passed_over() -> None:
    log = "Coverage: 64.2%\nCoverage: unknown\n"
    assert extract(log, r"Coverage: \S+") == 64.2


def test_ansi_colours_and_carriage_returns_do_not_get_in_the_way() -> None:
    log = "\x1b[0KTOTAL \x1b[1;32m 91%\x1b[0m\r\n\x1b[0Ksection_end:1700000000:step_script\r\x1b[0K\n"
    assert extract(log, r"TOTAL\s+(\d+)%") == 91.0


def test_no_match_a_bad_regex_and_slashes() -> None:
    assert extract("nothing here\n", r"Coverage: \d+%") is None
    assert extract("Coverage: 50%\n", "(unclosed") is None
    assert extract("Coverage: 50%\n", "") is None
    # Written with GitLab's slashes (and a flag) the regex works as well.
    assert extract("COVERAGE: 42%\n", r"/coverage: (\d+)%/i") == 42.0
    with pytest.raises(coverage.CoverageRegexError):
        coverage.compile_regex("a{2,1}")


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    # With a backtracking engine this takes longer than the age of the universe; RE2 answers at once.
    started = time.monotonic()
    assert extract("a" * 5000 + "!\n", r"(a+)+$") is None
    assert time.monotonic() - started < 2


def test_average_ignores_jobs_without_a_figure() -> None:
    assert coverage.average([80.0, None, 90.0]) == 85.0
    assert coverage.average([None]) is None


def test_csv_cells_that_look_like_formulas_are_quoted() -> None:
    from datetime import UTC, datetime

    text = coverage.trend_csv([coverage.Point(1, "a" * 40, datetime(2026, 1, 2, tzinfo=UTC), 12.5)], "=cmd|x", "-j")
    assert text.splitlines()[1] == f"1,2026-01-02T00:00:00+00:00,'=cmd|x,{'a' * 40},'-j,12.50"


def test_the_hook_reads_the_end_of_a_stored_log_and_the_pipeline_averages_latest_attempts(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    ref = factory.repo(owner)
    pipeline_id = make_pipeline(e, ref)
    spec = job_spec(coverage=r"Cover: (\d+\.\d+)%")
    first = make_job(e, ref, pipeline_id, name="unit", tags="no-runner-has-this", spec=spec)
    # A log larger than what is read: the early figure is out of reach, the last one counts.
    filler = b"x" * 100 + b"\n"
    with session_scope(e) as s:
        job = s.get(Job, first)
        assert job is not None
        body = b"Cover: 11.0%\n" + filler * ((coverage.LOG_TAIL_BYTES * 2) // len(filler)) + b"Cover: 66.5%\ndone\n"
        logs.append(s, first, 0, body, [])
        job.status = SUCCESS
        s.add(job)
        test_reports.on_job_finished(s, job)
    with session_scope(e) as s:
        job = s.get(Job, first)
        assert job is not None and job.coverage == 66.5
    # A retry of "unit" replaces its figure in the average; a job without one is left out of it.
    retry = make_job(e, ref, pipeline_id, name="unit", tags="no-runner-has-this", spec=spec)
    set_job(e, retry, coverage=90.0, status=SUCCESS)
    other = make_job(e, ref, pipeline_id, name="lint", tags="no-runner-has-this", spec=spec)
    set_job(e, other, coverage=70.0, status=SUCCESS)
    make_job(e, ref, pipeline_id, name="docs", tags="no-runner-has-this")
    with session_scope(e) as s:
        assert coverage.pipeline_coverage(s, [pipeline_id]) == {pipeline_id: 80.0}
        names = {j.name for j in s.exec(select(Job).where(Job.pipeline_id == pipeline_id))}
        assert names == {"unit", "lint", "docs"}
