"""Request bodies and API-only answers of the pull request, review and review comment operations (the pull
request, review and comment shapes themselves are forge.wire.pulls).

Limits mirror the services' (forge.pulls.*): a too-long value is a 422 naming the field before any service runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Title = Annotated[str, Field(min_length=1, max_length=255)]
Body = Annotated[str, Field(max_length=65_536)]
Branch = Annotated[str, Field(min_length=1, max_length=255)]
Login = Annotated[str, Field(min_length=1, max_length=100)]
Sha = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$", description="A full commit id.")]
Line = Annotated[int, Field(ge=1, le=10_000_000)]
MergeMethod = Literal["merge", "squash", "rebase", "fast-forward"]
ReviewEvent = Literal["APPROVE", "REQUEST_CHANGES", "COMMENT"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PullCreate(_Body):
    title: Title
    body: Body = ""
    head: Annotated[str, Field(min_length=1, max_length=356)] = Field(
        description="The branch to merge: ``branch`` of this repository, or ``owner:branch`` of a fork.")
    base: Branch = Field(description="The branch to merge into.")
    draft: bool = False


class PullUpdate(_Body):
    """Only the fields sent change. The author or anyone with write access may change them."""

    title: Title | None = None
    body: Body | None = None
    state: Literal["open", "closed"] | None = None
    base: Branch | None = Field(default=None, description="Retarget onto this branch (an open pull request).")
    draft: bool | None = Field(default=None, description="false marks a draft ready for review.")


class MergeRequest(_Body):
    merge_method: MergeMethod = Field(default="merge", description="How to merge (the repository must allow it).")
    commit_title: Annotated[str, Field(max_length=255)] = Field(
        default="", description="For merge and squash; GitHub's default title when empty.")
    commit_message: Body = Field(default="", description="For merge and squash.")
    sha: Sha | None = Field(default=None, description="The head the caller reviewed; 409 when the head moved.")
    delete_branch_after_merge: bool = False


class MergeResult(BaseModel):
    merged: bool
    sha: str = Field(description="The commit the base branch now points at.")
    message: str


class UpdateBranchRequest(_Body):
    expected_head_sha: Sha | None = Field(default=None, description="409 when the head is no longer this commit.")


class UpdateBranchResult(BaseModel):
    message: str
    sha: str = Field(description="The new head: a merge of the base branch into the head branch.")


class ReviewersRequest(_Body):
    reviewers: list[Login] = Field(min_length=1, max_length=50, description="Logins of the users to ask.")


class ReviewCommentDraft(_Body):
    """A comment on lines of the diff, made with a review."""

    path: Annotated[str, Field(min_length=1, max_length=1024)]
    line: Line = Field(description="The (last) line commented on, numbered as on ``side``.")
    side: Literal["LEFT", "RIGHT"] = Field(default="RIGHT", description="RIGHT: the head's lines; LEFT: the base's.")
    start_line: Line | None = Field(default=None, description="First line of a multi-line comment.")
    body: Annotated[str, Field(min_length=1, max_length=65_536)]


class ReviewCreate(_Body):
    body: Body = ""
    event: ReviewEvent | None = Field(default=None, description="Without an event the review stays pending.")
    commit_id: Sha | None = Field(default=None, description="The head the comments are written on (the current).")
    comments: list[ReviewCommentDraft] = Field(default_factory=list, max_length=100)


class ReviewSubmit(_Body):
    event: ReviewEvent
    body: Body = ""


class ReviewCommentCreate(ReviewCommentDraft):
    """A single comment on the diff, published at once (or a reply with ``in_reply_to``)."""

    path: Annotated[str, Field(max_length=1024)] = ""  # type: ignore[assignment]  # not needed for a reply
    line: Line | None = None  # type: ignore[assignment]
    commit_id: Sha | None = None
    in_reply_to: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = Field(
        default=None, description="Reply to this review comment's thread (path and lines are then ignored).")
