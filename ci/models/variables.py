"""CI/CD variables of repositories and organisations (values encrypted at rest).

A variable belongs to exactly one repository (``repo_id``) or one organisation (``owner_id``); the other column
is NULL. Its value is only ever stored sealed by ``ci.secret_box`` (``value_sealed``), so the database alone does
not reveal it. ``(scope, key, environment_scope)`` is unique, as in GitLab: the same key may exist once per
environment scope.

``JobSecrets`` keeps, for a running job, the masked values it was given when a runner took it (sealed as one JSON
list), so the server masks exactly those in the job's log even if a variable is changed while the job runs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from forge.db.models_base import utcnow


class CiVariable(SQLModel, table=True):
    __tablename__ = "ci_variable"
    __table_args__ = (
        # NULLs are distinct in unique constraints (SQLite and PostgreSQL), so an organisation's rows (repo_id
        # NULL) never collide in the first, nor a repository's rows (owner_id NULL) in the second.
        UniqueConstraint("repo_id", "key", "environment_scope", name="uq_ci_variable_repo_key_scope"),
        UniqueConstraint("owner_id", "key", "environment_scope", name="uq_ci_variable_owner_key_scope"),
    )

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="CASCADE")
    owner_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=255)
    value_sealed: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", max_length=255)
    masked: bool = False  # replaced by [MASKED] in job logs
    protected: bool = False  # only given to pipelines of protected branches
    is_file: bool = False  # the job gets a path to a file holding the value
    raw: bool = False  # "$NAME" in the value is not expanded
    environment_scope: str = Field(default="*", max_length=255)
    created_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class JobSecrets(SQLModel, table=True):
    __tablename__ = "ci_job_secrets"

    job_id: int = Field(primary_key=True, foreign_key="ci_job.id", ondelete="CASCADE")
    masked_sealed: str = Field(sa_column=Column(Text, nullable=False))  # sealed JSON list of strings
    created_at: datetime = Field(default_factory=utcnow)
