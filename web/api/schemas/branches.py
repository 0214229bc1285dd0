"""Request bodies and answers for branches, tags and branch protection rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from forge.repos.protection import MAX_APPROVALS

# Branch and tag names hold slashes (release/1.x), so these parameters take the rest of the path.
RefPath = Annotated[str, Path(max_length=255, description="A branch or tag name; may contain “/”.")]
PatternPath = Annotated[str, Path(max_length=255, description="A rule's branch name or pattern, e.g. release/*.")]


class GitPerson(BaseModel):
    name: str
    email: str
    date: datetime


class CommitBrief(BaseModel):
    id: str = Field(description="The commit's full SHA-1.")
    message: str
    author: GitPerson
    committer: GitPerson
    url: str = Field(description="The commit's web page.")


class Branch(BaseModel):
    name: str
    commit: CommitBrief | None = Field(description="The tip; null only if the ref does not point at a commit.")
    protected: bool = Field(description="A branch protection rule matches the name.")


class BranchCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    new_branch_name: str = Field(min_length=1, max_length=255)
    from_: str = Field(default="", alias="from", max_length=255,
                       description="Branch, tag or commit SHA to start from; the default branch if empty.")


class Tag(BaseModel):
    name: str
    id: str = Field(description="The object the tag points at: the commit, or the tag object if annotated.")
    commit: CommitBrief | None
    message: str | None = Field(description="The annotated tag's message; null for a lightweight tag.")
    zipball_url: str
    tarball_url: str


class TagCreate(BaseModel):
    tag_name: str = Field(min_length=1, max_length=255)
    target: str = Field(default="", max_length=255,
                        description="Branch, tag or commit SHA to tag; the default branch if empty.")
    message: str = Field(default="", max_length=10_000, pattern=r"^[^\x00]*$",
                         description="Makes an annotated tag, with the caller as tagger; lightweight if empty.")


class ProtectionFields(BaseModel):
    """The options of a rule, as on the repository's branch protection settings page."""

    allow_force_push: bool = False
    allow_deletion: bool = False
    restrict_push: bool = Field(default=False, description="Only admins and the listed users and teams may push.")
    push_users: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=100)
    push_teams: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=100, description="Teams of the owning organisation.")
    require_pull_request: bool = False
    required_approvals: int = Field(default=0, ge=0, le=MAX_APPROVALS)
    dismiss_stale_approvals: bool = False
    required_contexts: list[Annotated[str, Field(max_length=255)]] = Field(
        default_factory=list, max_length=100, description="Status contexts that must succeed before merging.")
    require_up_to_date: bool = Field(default=False, description="The head must contain the base branch's tip.")


class ProtectionCreate(ProtectionFields):
    pattern: str = Field(min_length=1, max_length=255, description="A branch name or a glob such as release/*.")


class ProtectionUpdate(BaseModel):
    """Only the fields sent change."""

    pattern: str | None = Field(default=None, min_length=1, max_length=255)
    allow_force_push: bool | None = None
    allow_deletion: bool | None = None
    restrict_push: bool | None = None
    push_users: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=100)
    push_teams: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=100)
    require_pull_request: bool | None = None
    required_approvals: int | None = Field(default=None, ge=0, le=MAX_APPROVALS)
    dismiss_stale_approvals: bool | None = None
    required_contexts: list[Annotated[str, Field(max_length=255)]] | None = Field(default=None, max_length=100)
    require_up_to_date: bool | None = None


class Protection(ProtectionCreate):
    created_at: datetime
