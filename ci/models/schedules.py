"""Pipeline schedules and trigger tokens (docs/ci.md, "Schedules and trigger tokens").

A schedule's ``next_run_at`` is both what the list shows and the claim every server worker races for: the sweep
(``ci.schedules``) moves it forward with a conditional UPDATE, and only the worker whose UPDATE changed the row makes
the pipeline. Pipelines remember their schedule in ``ci_pipeline.schedule_id``, which is how "last run" is found
(no pointer back from the schedule, so the two tables do not reference each other).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from forge.db.models_base import utcnow


class PipelineSchedule(SQLModel, table=True):
    __tablename__ = "ci_pipeline_schedule"

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    description: str = Field(max_length=255)
    cron: str = Field(max_length=255)  # five fields, standard cron meaning (0 and 7 are Sunday)
    timezone: str = Field(default="UTC", max_length=64)  # IANA name the cron fields are read in
    ref: str = Field(max_length=512)  # branch or tag name as chosen ("main", "v1.0" or "refs/tags/v1.0")
    # [{"key": "K", "value": "v"}], in the order they were given; they win over the pipeline file's.
    variables: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    active: bool = True
    # Pipelines run as this user; None once the account is deleted (the schedule then does not run).
    owner_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="SET NULL")
    # The next time it is due, in UTC; None while inactive or when the cron never matches again.
    next_run_at: datetime | None = Field(default=None, index=True)
    last_run_at: datetime | None = None  # the last time it was due (or run by hand), with or without a pipeline
    # Why the last due run made no pipeline ("" when it made one): shown on the schedules page.
    last_error: str = Field(default="", max_length=1024)  # an English message id, translated when shown
    last_error_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TriggerToken(SQLModel, table=True):
    """A secret (``fpt_``) that starts pipelines of one repository through the trigger API, as its owner."""

    __tablename__ = "ci_trigger_token"

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    description: str = Field(default="", max_length=255)
    token_hash: str = Field(max_length=128, unique=True)  # sha256 of the secret
    token_prefix: str = Field(max_length=16)  # shown in lists to tell tokens apart
    owner_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    # Kept (not deleted) so a revoked token gets a clear "revoked" answer instead of "unknown".
    revoked_at: datetime | None = None
