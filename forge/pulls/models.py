"""Pull request tables: the request itself (one per ``issue`` row with ``is_pull``), reviews, review requests,
review comments (threads anchored to lines of the diff), files a reviewer marked as viewed, and each repository's
merge settings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

# Mergeability (``PullRequest.merge_status``).
CHECKING = "checking"  # not computed since the last push to base or head
MERGEABLE = "mergeable"
CONFLICT = "conflict"  # ``conflict_files`` lists the paths
EMPTY = "empty"  # head adds nothing to base (already merged, or no commits)

# Merge styles.
MERGE = "merge"
SQUASH = "squash"
REBASE = "rebase"
FAST_FORWARD = "fast_forward"
MERGE_STYLES = (MERGE, SQUASH, REBASE, FAST_FORWARD)

# Review states.
PENDING = "pending"  # started, comments drafted, not submitted
COMMENTED = "commented"
APPROVED = "approved"
CHANGES_REQUESTED = "changes_requested"
DISMISSED = "dismissed"


class PullRequest(SQLModel, table=True):
    """Head and base of a pull request. The head's commits are copied into the base repository as
    ``refs/pull/<number>/head`` (so a fork's pull request can be merged, and survives the fork's deletion)."""

    __tablename__ = "pull_request"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", unique=True, ondelete="CASCADE")
    base_repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    base_branch: str = Field(max_length=255)
    head_repo_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="SET NULL")
    head_branch: str = Field(max_length=255)
    head_sha: str = Field(default="", max_length=64)
    base_sha: str = Field(default="", max_length=64)  # base branch tip when mergeability was last computed
    merge_base: str = Field(default="", max_length=64)
    is_draft: bool = False
    merge_status: str = Field(default=CHECKING, max_length=16)
    conflict_files: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # one per line
    commits_behind: int = 0  # base commits head lacks ("up to date with base" protection)
    merged_at: datetime | None = None
    merged_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    merge_commit_sha: str = Field(default="", max_length=64)
    merge_style: str = Field(default="", max_length=16)
    allow_maintainer_edit: bool = True
    # Auto-merge: set by someone who may merge; merged by the forge once every required check passes.
    auto_merge_style: str = Field(default="", max_length=16)
    auto_merge_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    auto_merge_delete_branch: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def conflicts(self) -> list[str]:
        return self.conflict_files.splitlines()


class PullReview(SQLModel, table=True):
    __tablename__ = "pull_review"

    id: int | None = Field(default=None, primary_key=True)
    pull_id: int = Field(foreign_key="pull_request.id", index=True, ondelete="CASCADE")
    reviewer_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="SET NULL")
    state: str = Field(default=PENDING, max_length=20)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    commit_sha: str = Field(default="", max_length=64)  # the head the review was given on
    created_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    dismissed_at: datetime | None = None  # stale approvals are dismissed when new commits arrive (if protected)


class ReviewRequest(SQLModel, table=True):
    __tablename__ = "review_request"
    __table_args__ = (UniqueConstraint("pull_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    pull_id: int = Field(foreign_key="pull_request.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    requested_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class ReviewComment(SQLModel, table=True):
    """A comment on lines of the diff. The first comment of a thread has ``thread_id`` equal to its own id; replies
    carry the first comment's id. ``start_line``..``line`` on ``side`` ("right": the head's lines, "left": the
    base's) of ``path`` at ``commit_sha``; ``original_*`` keep where it was written, and ``outdated`` is set when a
    later push changed those lines (the comment is kept and shown with its original hunk)."""

    __tablename__ = "review_comment"

    id: int | None = Field(default=None, primary_key=True)
    pull_id: int = Field(foreign_key="pull_request.id", index=True, ondelete="CASCADE")
    review_id: int | None = Field(default=None, foreign_key="pull_review.id", index=True, ondelete="CASCADE")
    thread_id: int | None = Field(default=None, index=True)
    author_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    path: str = Field(max_length=1024)
    side: str = Field(default="right", max_length=5)
    start_line: int | None = None  # first line of a multi-line comment; None for a single line
    line: int
    commit_sha: str = Field(max_length=64)
    original_start_line: int | None = None
    original_line: int
    original_commit_sha: str = Field(max_length=64)
    diff_hunk: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    outdated: bool = False
    resolved_at: datetime | None = None
    resolved_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    suggestion_applied_sha: str = Field(default="", max_length=64)  # the commit that applied its suggestion
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ViewedFile(SQLModel, table=True):
    """A reviewer ticked "viewed" on a file; it stays ticked until the file's blob changes."""

    __tablename__ = "pull_viewed_file"
    __table_args__ = (UniqueConstraint("pull_id", "user_id", "path"),)

    id: int | None = Field(default=None, primary_key=True)
    pull_id: int = Field(foreign_key="pull_request.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    path: str = Field(max_length=1024)
    blob_sha: str = Field(max_length=64)


class MergeSettings(SQLModel, table=True):
    """Which merge styles a repository allows, and its defaults (a repository without a row allows them all)."""

    __tablename__ = "merge_settings"

    repo_id: int = Field(foreign_key="repository.id", primary_key=True, ondelete="CASCADE")
    allow_merge: bool = True
    allow_squash: bool = True
    allow_rebase: bool = True
    allow_fast_forward: bool = True
    default_style: str = Field(default=MERGE, max_length=16)
    delete_branch_on_merge: bool = False
