"""Test reports and coverage from end to end: a pushed pipeline file with ``artifacts:reports:junit`` and
``coverage``, the real ``forge-runner`` running the job in Docker (busybox image built locally), and what a person
then sees on the Tests tab, the job page, the pipelines list and the coverage trend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ci_images import busybox_image
from tests.e2e.test_ci_end_to_end import forge_runner, pipeline_jobs, push_project, registration_token, wait_pipeline

PIPELINE = """\
unit:
  image: {image}
  script:
    - printf '<testsuites><testsuite name="unit">' > report.xml
    - printf '<testcase classname="app" name="test_ok" time="0.1"/>' >> report.xml
    - printf '<testcase classname="app" name="test_broken">' >> report.xml
    - printf '<failure message="expected 2, got 3">app_test.sh line 7</failure></testcase>' >> report.xml
    - printf '</testsuite></testsuites>' >> report.xml
    - echo "TOTAL    40    10    75%"
    - exit 1
  coverage: '/TOTAL.+ ([0-9]{{1,3}}%)/'
  artifacts:
    reports:
      junit: report.xml
"""


@pytest.fixture
def image() -> str:
    return busybox_image()


def test_a_junit_report_and_coverage_from_a_real_run(server, factory, git, web, tmp_path: Path, image: str):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)  # signs in as the owner
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".gitlab-ci.yml": PIPELINE.format(image=image)}, "tests with a report")
        pipeline = wait_pipeline(server, ref, runner)
    job = pipeline_jobs(server, ref)["unit"]
    assert pipeline.status == "failed" and job.status == "failed" and job.exit_code == 1
    # The report was uploaded although the script failed (reports are always collected), and the coverage read.
    assert job.coverage == 75.0, runner.output()

    base = f"/{ref.full_name}/-"
    tab = web.get(f"{base}/pipelines/{pipeline.id}/tests")
    assert tab.status_code == 200
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", tab.text))
    assert (totals["Tests"], totals["Passed"], totals["Failed"], totals["Coverage"]) == ("2", "1", "1", "75.00%")
    failures = tab.text.split('class="plain ci-test-failures"', 1)[1].split("</ul>", 1)[0]
    assert "test_broken" in failures and "expected 2, got 3" in failures and "app_test.sh line 7" in failures
    assert "test_ok" not in failures

    page = web.get(f"{base}/jobs/{job.id}")
    block = page.text.split('class="ci-job-tests"', 1)[1].split("</section>", 1)[0]
    assert "Coverage: <strong>75.00%</strong>" in block and "test_broken" in block

    listing = web.get(f"{base}/pipelines")
    cell = listing.text.split('class="ci-tests-cell"', 1)[1].split("</td>", 1)[0]
    assert "2 tests" in cell and "1 failed" in cell and "coverage 75.00%" in cell

    trend = web.get(f"{base}/graphs/coverage?ref=main")
    assert trend.status_code == 200 and trend.text.count('class="ci-chart-point"') == 1
    assert f"#{pipeline.id}</a></td>" in trend.text and "<td>75.00%</td>" in trend.text
