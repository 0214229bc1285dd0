"""Test reports: the JUnit test cases of each job and per-job totals.

A job's JUnit files are parsed once, when the job finishes (``ci.test_reports``), into one ``JobTestReport``
row (the counts, so lists of pipelines add up a few numbers instead of counting case rows) and one ``JobTestCase``
row per test case. Texts are cut to a few kilobytes by the parser, so a chatty test suite cannot bloat the
database. (The class names do not start with "Test", so pytest never takes them for test classes.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from forge.db.models_base import utcnow

# Test case states, GitLab's names except "passed" (GitLab says "success").
PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
CASE_STATES = (FAILED, ERROR, SKIPPED, PASSED)  # also the order failures-first lists use


class JobTestReport(SQLModel, table=True):
    """What one job's JUnit files add up to."""

    __tablename__ = "ci_test_report"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="ci_job.id", unique=True, ondelete="CASCADE")
    pipeline_id: int = Field(foreign_key="ci_pipeline.id", index=True, ondelete="CASCADE")
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    total: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    skipped: int = 0
    duration: float = 0.0  # seconds, the sum of the cases' times
    files: int = 0  # JUnit files read (parsed or not)
    # Problems to show with the report: [{"file": "report.xml", "message": "<English msgid>", "params": {...}}].
    notes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class JobTestCase(SQLModel, table=True):
    """One test case of one job's report."""

    __tablename__ = "ci_test_case"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="ci_job.id", index=True, ondelete="CASCADE")
    pipeline_id: int = Field(foreign_key="ci_pipeline.id", index=True, ondelete="CASCADE")
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    # sha256 of (the job's suite name, classname, name): the case's identity across pipelines, as GitLab's
    # test case key, used to tell new failures from failures the default branch already had.
    key: str = Field(max_length=64)
    suite: str = Field(default="", max_length=255)  # the innermost <testsuite name>
    classname: str = Field(default="", max_length=512)
    name: str = Field(max_length=1024)
    file: str = Field(default="", max_length=512)
    duration: float | None = None  # seconds; None when the file gives no time
    status: str = Field(max_length=8)  # passed / failed / error / skipped
    message: str = Field(default="", sa_column=Column(Text, nullable=False))  # the failure's message attribute
    details: str = Field(default="", sa_column=Column(Text, nullable=False))  # the failure's text (stack trace)
    output: str = Field(default="", sa_column=Column(Text, nullable=False))  # system-out and system-err
