"""Issue tables. Issues and pull requests share one number sequence per repository (``#12`` names either), so a
pull request is an ``issue`` row with ``is_pull`` set plus a ``pull_request`` row (forge.pulls.models) for what only
pull requests have; comments, labels, milestones, assignees, reactions and the timeline serve both.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

OPEN = "open"
CLOSED = "closed"
# Why an issue was closed (GitHub's state_reason); "merged" is a pull request's.
COMPLETED = "completed"
NOT_PLANNED = "not_planned"
MERGED = "merged"


class IssueCounter(SQLModel, table=True):
    """The last number given out in a repository. Incremented with an UPDATE so two issues opened at once can
    never get the same number (the row lock serialises them on PostgreSQL; SQLite has one writer anyway)."""

    __tablename__ = "issue_counter"

    repo_id: int = Field(foreign_key="repository.id", primary_key=True, ondelete="CASCADE")
    last_number: int = 0


class Issue(SQLModel, table=True):
    __tablename__ = "issue"
    __table_args__ = (UniqueConstraint("repo_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    number: int
    is_pull: bool = Field(default=False, index=True)
    title: str = Field(max_length=255)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    author_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="SET NULL")
    state: str = Field(default=OPEN, max_length=8, index=True)
    state_reason: str = Field(default="", max_length=16)
    closed_at: datetime | None = None
    closed_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True, ondelete="SET NULL")
    due_date: date | None = None
    is_locked: bool = False
    lock_reason: str = Field(default="", max_length=32)  # off-topic / too heated / resolved / spam
    pin_order: int | None = None  # set while pinned; lower first
    comment_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class IssueComment(SQLModel, table=True):
    __tablename__ = "issue_comment"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    author_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    edited: bool = False


class Label(SQLModel, table=True):
    """A label of one repository (``repo_id``) or of an organisation (``org_id``), usable in all its repos."""

    __tablename__ = "label"
    # "repo:<id>" or "org:<id>": one column the unique name constraint can use (NULLs never collide).
    __table_args__ = (UniqueConstraint("scope", "lower_name"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="CASCADE")
    org_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="CASCADE")
    scope: str = Field(max_length=32)
    name: str = Field(max_length=64)
    lower_name: str = Field(max_length=64)
    color: str = Field(default="#ededed", max_length=7)  # "#rrggbb"
    description: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def text_color(self) -> str:
        """Black or white, whichever reads better on ``color`` (WCAG relative luminance)."""
        return readable_text_color(self.color)

    @property
    def is_org_label(self) -> bool:
        return self.org_id is not None


def readable_text_color(color: str) -> str:
    """GitHub's rule: perceived lightness of the sRGB values, black text above 0.453, else white."""
    value = color.lstrip("#")
    try:
        r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    except ValueError:
        return "#000000"
    lightness = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if lightness > 0.453 else "#ffffff"


class IssueLabel(SQLModel, table=True):
    __tablename__ = "issue_label"

    issue_id: int = Field(foreign_key="issue.id", primary_key=True, ondelete="CASCADE")
    label_id: int = Field(foreign_key="label.id", primary_key=True, index=True, ondelete="CASCADE")


class Milestone(SQLModel, table=True):
    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("repo_id", "lower_title"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=128)
    lower_title: str = Field(max_length=128)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    due_on: date | None = None
    state: str = Field(default=OPEN, max_length=8)
    closed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class IssueAssignee(SQLModel, table=True):
    __tablename__ = "issue_assignee"

    issue_id: int = Field(foreign_key="issue.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="account.id", primary_key=True, index=True, ondelete="CASCADE")


class IssueEvent(SQLModel, table=True):
    """One entry of an issue's timeline besides comments: labelled, assigned, milestoned, renamed, closed,
    reopened, locked, pinned, referenced by a commit or another issue, review requested, merged, pushed...

    ``data`` carries what the entry shows (a label id and name, a commit sha, the referencing issue...), so the
    timeline still reads after the label or branch is gone."""

    __tablename__ = "issue_event"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    actor_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    kind: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Reaction(SQLModel, table=True):
    """An emoji reaction to an issue or pull request body (``comment_id`` empty), an issue comment
    (``subject`` "comment") or a review comment (``subject`` "review_comment")."""

    __tablename__ = "reaction"
    __table_args__ = (UniqueConstraint("issue_id", "subject", "comment_id", "user_id", "content"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    subject: str = Field(default="issue", max_length=16)  # issue / comment / review_comment
    comment_id: int = 0  # 0 for the issue body (not NULL, so the unique constraint holds)
    user_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    content: str = Field(max_length=16)  # +1 -1 laugh hooray confused heart rocket eyes
    created_at: datetime = Field(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    """A file uploaded into an issue or comment text box; stored under data/attachments/<uuid>."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True, index=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    uploader_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    issue_id: int | None = Field(default=None, foreign_key="issue.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=255)
    size: int
    content_type: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
