"""Artifacts and caches: archives and reports uploaded by runners, cache archives per repository.

An archive's bytes live in the CI file store (``ci.storage``) under ``storage_key``; the row is what makes it
exist: a download, a browse or a dependency finds the file only through its row, so an upload becomes visible in
one step (the row update) and a failed upload leaves the earlier row, and so the earlier file, in place.

Reports (JUnit XML) are small and are read by the job-finished hook inside the transaction that finishes the job,
where no file store is at hand; their bytes are kept in the database (``ci_artifact_data``), like job logs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, LargeBinary
from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

ARCHIVE = "archive"
JUNIT = "junit"
FILE_TYPES = (ARCHIVE, JUNIT)


class Artifact(SQLModel, table=True):
    """One uploaded file of a job: its artifacts archive (a zip) or one report file."""

    __tablename__ = "ci_artifact"
    __table_args__ = (UniqueConstraint("job_id", "file_type", "filename"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="ci_job.id", index=True, ondelete="CASCADE")
    pipeline_id: int = Field(foreign_key="ci_pipeline.id", index=True, ondelete="CASCADE")
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    file_type: str = Field(max_length=16)  # archive / junit
    filename: str = Field(max_length=255)  # "artifacts.zip", or the report's path in the project
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    storage_key: str = Field(default="", max_length=512)  # "" when the bytes are in ci_artifact_data
    expire_at: datetime | None = Field(default=None, index=True)  # None: kept until deleted
    created_at: datetime = Field(default_factory=utcnow)


class ArtifactData(SQLModel, table=True):
    """The bytes of a report artifact (see the module docstring for why reports are in the database)."""

    __tablename__ = "ci_artifact_data"

    artifact_id: int = Field(primary_key=True, foreign_key="ci_artifact.id", ondelete="CASCADE")
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CacheEntry(SQLModel, table=True):
    """The cache archive of one key in one repository. ``key`` carries the protection suffix (``-protected`` or
    ``-non_protected``), so pipelines of unprotected refs never read or replace a protected ref's cache."""

    __tablename__ = "ci_cache"
    __table_args__ = (UniqueConstraint("repo_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=300)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=512)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime = Field(default_factory=utcnow, index=True)
