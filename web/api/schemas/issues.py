"""Request bodies of the issue, comment, label and milestone operations (responses are forge.wire.issues).

Limits mirror the services' (forge.issues.*) so a too-long value is a 422 naming the field before any service runs;
the services check again, so these are a convenience, not the rule.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# PostgreSQL text cannot hold NUL characters: refuse them here (422) rather than fail in the database (500).
NO_NUL = r"^[^\x00]*$"
Title = Annotated[str, Field(min_length=1, max_length=255, pattern=NO_NUL)]
Body = Annotated[str, Field(max_length=65_536, pattern=NO_NUL)]
LabelName = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
Login = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
Description = Annotated[str, Field(max_length=255, pattern=NO_NUL)]
MilestoneTitle = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]
Color = Annotated[str, Field(pattern=r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$", description="#rrggbb or #rgb")]
LockReason = Literal["off-topic", "too heated", "resolved", "spam"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IssueCreate(_Body):
    title: Title
    body: Body = ""
    labels: list[LabelName] = Field(default_factory=list, max_length=100,
                                    description="Label names (kept only from people who may triage).")
    assignees: list[Login] = Field(default_factory=list, max_length=100,
                                   description="Logins of people with write access (kept only from triagers).")
    milestone: DbId | None = Field(default=None, description="Milestone id (kept only from triagers).")
    due_date: date | None = Field(default=None, description="Kept only from people who may triage.")


class IssueUpdate(_Body):
    """Only the fields sent change. The author may change ``title``, ``body`` and ``state``; the other fields need
    write access to the repository."""

    title: Title | None = None
    body: Body | None = None
    state: Literal["open", "closed"] | None = None
    state_reason: Literal["completed", "not_planned"] | None = Field(
        default=None, description="Why it is closed (with state closed); completed when absent.")
    labels: list[LabelName] | None = Field(default=None, max_length=100, description="Replace all labels.")
    assignees: list[Login] | None = Field(default=None, max_length=100, description="Replace all assignees.")
    milestone: DbId | None = Field(default=None, description="Milestone id; null removes the milestone.")
    due_date: date | None = Field(default=None, description="null removes the due date.")


class LockBody(_Body):
    lock_reason: LockReason | None = None


class LabelNames(_Body):
    labels: list[LabelName] = Field(max_length=100)


class AssigneeLogins(_Body):
    assignees: list[Login] = Field(max_length=100)


class CommentBody(_Body):
    body: Annotated[str, Field(min_length=1, max_length=65_536, pattern=NO_NUL)]


class LabelCreate(_Body):
    name: LabelName
    color: Color
    description: Description = ""


class LabelUpdate(_Body):
    name: LabelName | None = None
    color: Color | None = None
    description: Description | None = None


class MilestoneCreate(_Body):
    title: MilestoneTitle
    description: Body = ""
    due_on: date | None = None
    state: Literal["open", "closed"] = "open"


class MilestoneUpdate(_Body):
    title: MilestoneTitle | None = None
    description: Body | None = None
    due_on: date | None = Field(default=None, description="null removes the due date.")
    state: Literal["open", "closed"] | None = None
