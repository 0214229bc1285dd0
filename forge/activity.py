"""The activity outbox: one row for everything that happens on an issue or pull request.

Services write an ``Activity`` row in the same transaction as the change itself, so what happened and the record
that it happened commit together. Consumers (notifications now, webhooks and feeds later, CI for pull request
pipelines) each keep their own "seen" table keyed by the activity id and claim rows by inserting into it, the
pattern ci.triggers uses for push events: a row is handled exactly once per consumer even with several workers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel

from forge.db.models_base import utcnow

# Kinds. ``data`` holds what a consumer needs beyond the ids (see each producer).
ISSUE_OPENED = "issue.opened"
ISSUE_EDITED = "issue.edited"
ISSUE_CLOSED = "issue.closed"  # data: {"reason": "completed" | "not_planned" | "merged", "by_commit"?, "by_pull"?}
ISSUE_REOPENED = "issue.reopened"
ISSUE_COMMENTED = "issue.commented"  # comment_id set
ISSUE_ASSIGNED = "issue.assigned"  # data: {"user_ids": [...]} newly assigned
ISSUE_LABELED = "issue.labeled"
ISSUE_MENTIONED = "issue.mentioned"  # data: {"user_ids": [...]} newly mentioned (in body or a comment)
PULL_OPENED = "pull.opened"
PULL_SYNCHRONIZED = "pull.synchronized"  # data: {"before": sha, "after": sha}
PULL_REVIEW_REQUESTED = "pull.review_requested"  # data: {"user_ids": [...]}
PULL_REVIEWED = "pull.reviewed"  # data: {"review_id": id, "state": "approved" | "changes_requested" | "commented"}
PULL_REVIEW_COMMENTED = "pull.review_commented"  # comment_id is the review comment's id
PULL_MERGED = "pull.merged"  # data: {"sha": merge commit, "style": ...}
PULL_READY = "pull.ready_for_review"


class Activity(SQLModel, table=True):
    __tablename__ = "activity"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    issue_id: int | None = Field(default=None, foreign_key="issue.id", index=True, ondelete="CASCADE")
    actor_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    comment_id: int | None = None  # an issue comment or a review comment, by kind
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


def record(
    session: Session,
    kind: str,
    *,
    repo_id: int,
    issue_id: int | None = None,
    actor_id: int | None = None,
    comment_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Activity:
    row = Activity(kind=kind, repo_id=repo_id, issue_id=issue_id, actor_id=actor_id, comment_id=comment_id,
                   data=data or {})
    session.add(row)
    session.flush()
    return row
