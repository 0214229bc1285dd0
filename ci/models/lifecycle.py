"""Job lifecycle tables: resource groups, automatic retries and pipelines canceled as redundant.

A resource group row exists per (repository, group name) once a job of the group has wanted it. ``holder_job_id``
is the one job that may be ``pending``/``running`` in the group; it is set and cleared only while the row is locked
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), so two server workers finishing jobs at
the same moment never hand the group to two jobs.

The other two tables only remember why something happened, for the job page: which attempt of a job was made by
``retry`` (and after which failure), and which newer pipeline canceled a redundant one.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

# Which waiting job gets a free resource group (GitLab's process modes).
UNORDERED = "unordered"  # the job that has waited longest
OLDEST_FIRST = "oldest_first"  # the oldest pipeline's job, which may not even be waiting yet
NEWEST_FIRST = "newest_first"  # the newest pipeline's job, likewise
PROCESS_MODES = (UNORDERED, OLDEST_FIRST, NEWEST_FIRST)


class ResourceGroup(SQLModel, table=True):
    __tablename__ = "ci_resource_group"
    __table_args__ = (UniqueConstraint("repo_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=255)  # the job's expanded ``resource_group``
    process_mode: str = Field(default=UNORDERED, max_length=16)
    # The job holding the group (pending or running); None when free. A deleted job frees it.
    holder_job_id: int | None = Field(default=None, foreign_key="ci_job.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AutoRetry(SQLModel, table=True):
    """A job attempt made by the job's ``retry`` keyword rather than by a person."""

    __tablename__ = "ci_job_auto_retry"

    job_id: int = Field(primary_key=True, foreign_key="ci_job.id", ondelete="CASCADE")  # the new attempt
    retried_job_id: int | None = Field(default=None, foreign_key="ci_job.id", ondelete="SET NULL")  # the failed one
    reason: str = Field(default="", max_length=32)  # the failed attempt's failure_reason
    attempt: int = 2  # this attempt's number (the first run is 1)
    max_attempts: int = 3  # 1 + retry:max
    created_at: datetime = Field(default_factory=utcnow)


class AutoCancel(SQLModel, table=True):
    """A pipeline canceled because a newer pipeline on the same branch made it redundant."""

    __tablename__ = "ci_pipeline_auto_cancel"

    pipeline_id: int = Field(primary_key=True, foreign_key="ci_pipeline.id", ondelete="CASCADE")
    by_pipeline_id: int | None = Field(default=None, foreign_key="ci_pipeline.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
