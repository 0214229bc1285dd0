"""Repositories, collaborators, branch protection rules and push events."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow


class Repository(SQLModel, table=True):
    __tablename__ = "repository"
    __table_args__ = (UniqueConstraint("owner_id", "lower_name"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="account.id", index=True)
    name: str = Field(max_length=100)
    lower_name: str = Field(max_length=100, index=True)
    description: str = Field(default="", max_length=1024)
    website: str = Field(default="", max_length=256)
    topics: str = Field(default="", max_length=1024)  # space separated, lower case
    is_private: bool = False
    default_branch: str = Field(default="main", max_length=255)
    fork_of_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="SET NULL")
    # Directory name on disk, stable across renames and transfers (repos/<id>.git would hide owners from
    # operators, so we keep owner/name but rename the directory in the same operation as the row).
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    pushed_at: datetime | None = None

    @property
    def topic_list(self) -> list[str]:
        return self.topics.split()


class Collaborator(SQLModel, table=True):
    __tablename__ = "collaborator"
    __table_args__ = (UniqueConstraint("repo_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    permission: str = Field(default="write", max_length=8)  # read / write / admin
    created_at: datetime = Field(default_factory=utcnow)


class ProtectedBranch(SQLModel, table=True):
    """A protection rule. ``pattern`` is a branch name or an fnmatch glob (``release/*``)."""

    __tablename__ = "protected_branch"
    __table_args__ = (UniqueConstraint("repo_id", "pattern"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    pattern: str = Field(max_length=255)
    allow_force_push: bool = False
    allow_deletion: bool = False
    # When true only the listed users and teams (and repository admins) may push; otherwise anyone with write.
    restrict_push: bool = False
    push_user_ids: str = Field(default="", max_length=2048)  # space separated account ids
    push_team_ids: str = Field(default="", max_length=2048)  # space separated team ids
    # Pull request rules (enforced on the merge button and on push, see forge.pulls.gate).
    require_pull_request: bool = False  # no direct pushes: changes arrive by merging a pull request
    required_approvals: int = 0
    dismiss_stale_approvals: bool = False  # new commits on the head dismiss earlier approvals
    # Commit status contexts that must succeed, one per line.
    required_contexts: str = Field(default="", max_length=2048)
    require_up_to_date: bool = False  # the head must contain the base branch's tip
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def push_users(self) -> list[int]:
        return [int(x) for x in self.push_user_ids.split()]

    @property
    def push_teams(self) -> list[int]:
        return [int(x) for x in self.push_team_ids.split()]

    @property
    def contexts(self) -> list[str]:
        return [c.strip() for c in self.required_contexts.splitlines() if c.strip()]


class PushEvent(SQLModel, table=True):
    """One accepted ref update. Written before the pusher sees the push complete; CI, webhooks and feeds read it.

    ``processed_at`` stays empty until the consumers (later issues) have handled the event, which makes this table
    the durable outbox for push-triggered work.
    """

    __tablename__ = "push_event"

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    pusher_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="SET NULL")
    ref: str = Field(max_length=512)
    old_sha: str = Field(max_length=64)
    new_sha: str = Field(max_length=64)
    # "push" for git pushes, "web" for changes made in the UI/CLI (branch created, tag deleted...).
    source: str = Field(default="push", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    processed_at: datetime | None = None


class PushHandled(SQLModel, table=True):
    """The core's claim on a push event (forge.push_processing): pull request heads updated, commit references and
    "closes #N" applied. One row per event, inserted first, so several workers never handle an event twice."""

    __tablename__ = "push_handled"

    push_event_id: int = Field(foreign_key="push_event.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class CommitStatus(SQLModel, table=True):
    """The latest state of one context (e.g. "ci/pipeline", "ci/job: test", "deploy/staging") on one commit."""

    __tablename__ = "ci_commit_status"
    __table_args__ = (UniqueConstraint("repo_id", "sha", "context"),)

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    sha: str = Field(max_length=64, index=True)
    context: str = Field(max_length=255)
    state: str = Field(max_length=16)  # pending / running / success / failed / error / canceled
    description: str = Field(default="", max_length=1024)
    target_url: str = Field(default="", max_length=1024)
    # The forge pipeline behind the "ci/forge" context. Named by table only: the core never imports CI's models.
    pipeline_id: int | None = Field(default=None, foreign_key="ci_pipeline.id", ondelete="SET NULL")
    creator_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
