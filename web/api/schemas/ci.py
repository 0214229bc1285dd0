"""Request bodies and API-only answers for CI: "Run pipeline", runners.

Pipelines and jobs themselves are ``ci.wire`` (webhook payloads show them the same way). Limits mirror the
services' (``ci.pipelines.parse_run_variables``, the runner columns) so a bad value is a 422, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PipelineStatus = Literal["created", "pending", "running", "success", "failed", "canceled", "skipped", "manual",
                         "scheduled", "waiting_for_resource", "config_error"]
# Branch and tag names never hold control characters (and PostgreSQL text cannot hold NUL): refused up front.
REF_PATTERN = r"^[^\x00-\x1f\x7f]*$"
PipelineSource = Literal["push", "web", "api", "schedule", "trigger", "merge_request_event"]


class _Body(BaseModel):
    # A misspelt field is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


class Variable(_Body):
    key: str = Field(min_length=1, max_length=255, description="Letters, digits and _, not starting with a digit.")
    value: str = Field(max_length=10_000)


class PipelineCreate(_Body):
    """``POST /repos/{owner}/{repo}/pipelines``: what the web's "Run pipeline" form sends."""

    ref: str = Field(min_length=1, max_length=255, pattern=REF_PATTERN,
                     description="Branch or tag name (or refs/heads/…, refs/tags/…).")
    variables: list[Variable] = Field(default_factory=list, max_length=50,
                                      description="Extra variables; they win over the pipeline file's.")


class RunnerOut(BaseModel):
    id: int
    description: str = Field(description="The runner's name, given at registration.")
    status: Literal["online", "offline", "paused"]
    active: bool = Field(description="False while paused: it gets no new jobs.")
    online: bool = Field(description="Whether it called the forge within the last minute.")
    tags: list[str] = Field(description="Its labels: a job runs on it only if it has every tag of the job.")
    scope: Literal["instance", "org", "repo"]
    owner: str = Field(description="The organisation name or owner/repo of a scoped runner; empty for instance.")
    executor: str
    concurrency: int
    version: str
    created_at: datetime
    last_contact_at: datetime | None


class RunnerUpdate(_Body):
    """``PATCH /admin/runners/{id}``: pause or resume."""

    paused: bool


# --- test reports (GitLab's shapes: GET .../pipelines/{id}/test_report and .../test_report_summary) ------------


class _Counts(BaseModel):
    total_time: float
    total_count: int
    success_count: int
    failed_count: int
    skipped_count: int
    error_count: int


class TestCase(BaseModel):
    status: Literal["success", "failed", "error", "skipped"]
    name: str
    classname: str
    file: str | None
    execution_time: float
    system_output: str | None
    stack_trace: str | None
    output: str | None


class TestSuiteSummary(_Counts):
    name: str = Field(description="The job's name (the instances of a parallel job are one suite).")
    build_ids: list[int] = Field(description="The jobs that reported this suite.")
    suite_error: str | None = Field(description="Why some report file could not be read.")


class TestSuite(TestSuiteSummary):
    test_cases: list[TestCase] = Field(description="Failures first.")


class TestReport(_Counts):
    test_suites: list[TestSuite]


class TestTotals(BaseModel):
    time: float
    count: int
    success: int
    failed: int
    skipped: int
    error: int
    suite_error: str | None


class TestReportSummary(BaseModel):
    total: TestTotals
    test_suites: list[TestSuiteSummary]
