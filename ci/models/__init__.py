"""CI tables: pipelines, jobs and their logs, commit statuses, runners and their registration tokens. Each feature
added later keeps its own tables in a submodule (artifacts, test reports, variables, schedules, environments,
lifecycle), imported at the end of this file so that ``SQLModel.metadata`` (and so Alembic) always sees them all.

Jobs keep what the runner needs (``spec``: scripts, image, variables, timeout) as JSON so a retry runs exactly what
the first attempt ran, even after the pipeline file changed. Logs are stored as chunks keyed by their byte offset,
which makes appending idempotent (a resent chunk is recognised by its offset) and works the same on SQLite and
PostgreSQL and with several server workers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

# Job and pipeline states (docs/ci.md, "Job states").
CREATED = "created"
PENDING = "pending"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
CANCELED = "canceled"
SKIPPED = "skipped"
MANUAL = "manual"
# A ``when: delayed`` job whose turn has come, waiting for ``scheduled_at``.
SCHEDULED = "scheduled"
# A job whose ``resource_group`` is busy with another job.
WAITING_FOR_RESOURCE = "waiting_for_resource"
# A pipeline whose file could not be read; it has no jobs and shows the errors.
CONFIG_ERROR = "config_error"

ACTIVE_STATES = (CREATED, PENDING, RUNNING, SCHEDULED, WAITING_FOR_RESOURCE)
DONE_STATES = (SUCCESS, FAILED, CANCELED, SKIPPED)


class Pipeline(SQLModel, table=True):
    __tablename__ = "ci_pipeline"

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    ref: str = Field(max_length=512)  # short name: "main", "v1.0"
    ref_kind: str = Field(default="branch", max_length=8)  # branch / tag
    sha: str = Field(max_length=64, index=True)
    before_sha: str = Field(default="", max_length=64)
    # push / web / schedule / trigger / api / merge_request_event
    source: str = Field(default="push", max_length=32)
    # The pull request a "merge_request_event" pipeline runs for (its status shows on the pull request).
    pull_id: int | None = Field(default=None, foreign_key="pull_request.id", index=True, ondelete="SET NULL")
    push_event_id: int | None = Field(default=None, foreign_key="push_event.id", ondelete="SET NULL")
    triggered_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    # The schedule that made it (source "schedule"); its newest pipeline is the schedule's "last run".
    schedule_id: int | None = Field(default=None, foreign_key="ci_pipeline_schedule.id", index=True,
                                    ondelete="SET NULL")
    status: str = Field(default=CREATED, max_length=24, index=True)
    config_path: str = Field(default="", max_length=64)  # ".forge-ci.yml" or ".gitlab-ci.yml"
    # [{"line": 3, "message": "..."}] when status is config_error.
    config_errors: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # [{"line": 3, "message": "..."}]: the file was usable, but something in it was left out or is probably not
    # meant (an include of a GitLab template, a key written twice); shown on the pipeline page.
    config_warnings: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # Extra variables given to "Run pipeline" ({"KEY": "value"}).
    variables: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    commit_title: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Job(SQLModel, table=True):
    __tablename__ = "ci_job"

    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="ci_pipeline.id", index=True, ondelete="CASCADE")
    # Kept here as well so the dispatcher can filter pending jobs by scope without a join.
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=255)
    stage: str = Field(max_length=255)
    stage_index: int = 0
    status: str = Field(default=CREATED, max_length=24, index=True)
    when: str = Field(default="on_success", max_length=16)
    allow_failure: bool = False
    # Job names this job waits for; None means "every job of the earlier stages" (stage order).
    needs: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # What the runner gets: image, scripts, variables (with "masked"), timeout seconds, git depth.
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    tags: str = Field(default="", max_length=1024)  # space separated; a runner needs every one as a label
    runner_id: int | None = Field(default=None, foreign_key="ci_runner.id", index=True, ondelete="SET NULL")
    token_hash: str | None = Field(default=None, max_length=128, index=True)  # sha256 of the job token
    exit_code: int | None = None
    failure_reason: str = Field(default="", max_length=32)
    log_length: int = 0
    retry_of_id: int | None = Field(default=None, foreign_key="ci_job.id", ondelete="SET NULL")
    # Who the job runs for: the pipeline's trigger user, or the person who played or retried it (deployments name
    # them); None for a push pipeline's jobs whose pusher is unknown.
    user_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    # Set on cancel; the runner learns it through the watch long poll and its log and state calls.
    cancel_requested: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_contact_at: datetime | None = None  # the runner's last call about this job (runner-lost detection)
    # Issue 5 (docs/ci.md, "Delivery"): set from the pipeline file when the job is created.
    interruptible: bool = False  # a newer pipeline on the same branch may cancel it
    resource_group: str = Field(default="", max_length=255)  # expanded name; one job of a group at a time
    environment: str = Field(default="", max_length=255, index=True)  # expanded environment name, "" for none
    scheduled_at: datetime | None = None  # when a delayed (``scheduled``) job becomes pending
    coverage: float | None = None  # percent, from the ``coverage`` regex over the log


class JobLogChunk(SQLModel, table=True):
    __tablename__ = "ci_job_log_chunk"
    __table_args__ = (UniqueConstraint("job_id", "offset"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="ci_job.id", index=True, ondelete="CASCADE")
    offset: int  # byte offset of the first byte of ``data`` in the job's log
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Runner(SQLModel, table=True):
    __tablename__ = "ci_runner"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    token_hash: str = Field(max_length=128, unique=True)  # sha256 of the runner token
    token_prefix: str = Field(max_length=16)  # shown to admins to tell tokens apart
    scope: str = Field(default="instance", max_length=16)  # instance / org / repo
    owner_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="CASCADE")
    repo_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="CASCADE")
    labels: str = Field(default="", max_length=1024)  # space separated
    concurrency: int = 1
    executor: str = Field(default="docker", max_length=16)
    version: str = Field(default="", max_length=64)
    is_active: bool = True  # paused runners get no jobs
    created_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime | None = None


class RegistrationToken(SQLModel, table=True):
    __tablename__ = "ci_registration_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=128, unique=True)
    token_prefix: str = Field(max_length=16)
    scope: str = Field(default="instance", max_length=16)
    owner_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="CASCADE")
    repo_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="CASCADE")
    created_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class PushSeen(SQLModel, table=True):
    """A push event CI has handled. Its primary key makes "one pipeline per push event" hold even when several
    workers process the outbox at once: the second insert fails and its transaction (and pipeline) rolls back."""

    __tablename__ = "ci_push_seen"

    push_event_id: int = Field(primary_key=True, foreign_key="push_event.id", ondelete="CASCADE")
    pipeline_id: int | None = Field(default=None, foreign_key="ci_pipeline.id", ondelete="SET NULL")
    # Why no pipeline was made: "deleted", "no_config", "workflow", "" when one was.
    outcome: str = Field(default="", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


# Feature tables (see the module docstring); imported last so they can refer to the tables above by name.
from ci.models import (  # noqa: E402, F401
    artifacts,
    environments,
    lifecycle,
    merge_requests,
    reports,
    schedules,
    variables,
)
