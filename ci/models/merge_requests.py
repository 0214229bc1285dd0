"""CI's claim on pull request activity (forge.activity): one row per "opened" / "synchronized" / "reopened" event
it has turned into a merge request pipeline (or decided not to), so each event makes one pipeline at most."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from forge.db.models_base import utcnow


class MergeRequestSeen(SQLModel, table=True):
    __tablename__ = "ci_merge_request_seen"

    activity_id: int = Field(foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    pipeline_id: int | None = Field(default=None, foreign_key="ci_pipeline.id", ondelete="SET NULL")
    outcome: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
