"""Environments and their deployments (docs/ci.md, "Environments and deployments").

An environment is a place a repository's jobs deploy to (``production``, ``review/main``); it exists once a job
with ``environment:`` has run. A deployment is one run of a job with ``environment: {action: start}`` (the
default): it keeps the job, pipeline, commit and the person behind it even after the job rows are gone (the job
link is then empty), so the environment's history stays readable. Deployments are numbered per repository
(``iid``, as GitLab does) through a counter row that the insert locks, so two runners claiming deploy jobs at once
never get the same number.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

# Environment states (GitLab's): "stopping" while its stop job runs after someone pressed Stop.
AVAILABLE = "available"
STOPPING = "stopping"
STOPPED = "stopped"

# Deployment tiers (GitLab's ``environment:deployment_tier``).
TIERS = ("production", "staging", "testing", "development", "other")


class Environment(SQLModel, table=True):
    __tablename__ = "ci_environment"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=255)  # expanded: "review/main"
    slug: str = Field(max_length=24)  # CI_ENVIRONMENT_SLUG: DNS-safe, at most 24 characters
    external_url: str = Field(default="", max_length=1024)  # http(s) only; "" when no job gave one
    tier: str = Field(default="other", max_length=16)
    state: str = Field(default=AVAILABLE, max_length=16)
    auto_stop_at: datetime | None = None  # from ``auto_stop_in`` of the last successful deployment
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Deployment(SQLModel, table=True):
    __tablename__ = "ci_deployment"
    __table_args__ = (UniqueConstraint("repo_id", "iid"), UniqueConstraint("job_id"))

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    environment_id: int = Field(foreign_key="ci_environment.id", index=True, ondelete="CASCADE")
    iid: int  # per repository, increasing: "#3"
    job_id: int | None = Field(default=None, foreign_key="ci_job.id", ondelete="SET NULL")
    pipeline_id: int | None = Field(default=None, foreign_key="ci_pipeline.id", index=True, ondelete="SET NULL")
    sha: str = Field(max_length=64)
    ref: str = Field(max_length=512)
    ref_kind: str = Field(default="branch", max_length=8)
    # Who deployed: the person who pressed re-deploy / play when known, else the pipeline's trigger user.
    user_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    status: str = Field(default="created", max_length=16, index=True)  # created/running/success/failed/canceled
    # The job (by name, in the same pipeline) that stops the environment: ``environment:on_stop``.
    on_stop: str = Field(default="", max_length=255)
    # A re-deploy of an earlier deployment (GitLab's rollback) names it.
    redeploy_of_id: int | None = Field(default=None, foreign_key="ci_deployment.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class DeploymentCounter(SQLModel, table=True):
    """The last deployment number handed out in a repository; incremented by an UPDATE that row-locks it."""

    __tablename__ = "ci_deployment_counter"

    repo_id: int = Field(primary_key=True, foreign_key="repository.id", ondelete="CASCADE")
    last_iid: int = 0
