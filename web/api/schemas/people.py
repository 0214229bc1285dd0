"""Request bodies and API-only answers for users, organisations, teams, notifications and search.

Users and organisations themselves are ``forge.wire.users`` (webhook payloads show them the same way); repositories
are ``forge.wire.repos``. Length limits mirror the columns so a too-long value is a 422, never a database error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forge.wire.issues import IssueOut
from forge.wire.repos import RepositoryBrief, RepositoryOut
from forge.wire.users import User, UserBrief

# PostgreSQL text cannot hold NUL, and no name or one-line field has a use for control characters: refused up
# front (422) rather than failing in the database. Multi-line text (a bio) may hold newlines and tabs.
LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# Organisation and team names (forge.names checks them again, with reserved names and clearer messages).
ACCOUNT_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$"

TeamPermission = Literal["read", "write", "admin"]
WatchLevel = Literal["all", "participating", "ignore"]


class _Body(BaseModel):
    # A misspelt field is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


# --- users ----------------------------------------------------------------------------------------------------


class UserUpdate(_Body):
    """``PATCH /user``: only the fields sent change."""

    full_name: str | None = Field(default=None, max_length=128, pattern=LINE)
    bio: str | None = Field(default=None, max_length=1024, pattern=TEXT)
    website: str | None = Field(default=None, max_length=256, pattern=LINE)
    locale: str | None = Field(default=None, max_length=16, pattern=LINE,
                               description="zh_CN, en, or empty to follow the browser.")


class Email(BaseModel):
    email: str
    primary: bool
    verified: bool


# --- organisations --------------------------------------------------------------------------------------------


class OrgCreate(_Body):
    name: str = Field(min_length=1, max_length=39, pattern=ACCOUNT_NAME)
    full_name: str = Field(default="", max_length=128, pattern=LINE)


class OrgUpdate(_Body):
    """``PATCH /orgs/{org}``: only the fields sent change."""

    full_name: str | None = Field(default=None, max_length=128, pattern=LINE)
    bio: str | None = Field(default=None, max_length=1024, pattern=TEXT)
    website: str | None = Field(default=None, max_length=256, pattern=LINE)


class Membership(BaseModel):
    """A user's place in an organisation."""

    user: UserBrief
    organization: UserBrief
    role: Literal["owner", "member"]


class MembershipUpdate(_Body):
    owner: bool = Field(default=False, description="Make the user an owner (true) or a plain member (false).")


class TeamCreate(_Body):
    name: str = Field(min_length=1, max_length=39, pattern=ACCOUNT_NAME)
    description: str = Field(default="", max_length=512, pattern=TEXT)
    permission: TeamPermission = "read"
    includes_all_repos: bool = Field(default=False,
                                     description="Give the team every repository of the organisation.")


class TeamUpdate(_Body):
    """``PATCH /orgs/{org}/teams/{team}``: only the fields sent change (a team cannot be renamed)."""

    description: str | None = Field(default=None, max_length=512, pattern=TEXT)
    permission: TeamPermission | None = None
    includes_all_repos: bool | None = None


class Team(BaseModel):
    id: int
    name: str
    description: str
    permission: TeamPermission
    includes_all_repos: bool
    members_count: int
    organization: UserBrief
    html_url: str
    created_at: datetime


# --- notifications --------------------------------------------------------------------------------------------


class Subject(BaseModel):
    title: str
    type: Literal["Issue", "PullRequest"]
    number: int
    state: Literal["open", "closed"]
    url: str = Field(description="The issue or pull request in the API.")
    html_url: str


class Thread(BaseModel):
    """One line of the inbox: an issue or pull request with news for the caller (GitHub's notification thread)."""

    id: int
    unread: bool
    reason: str = Field(description="author, comment, mention, assign, review_requested, subscribed, state_change.")
    updated_at: datetime
    last_read_at: datetime | None
    subject: Subject
    repository: RepositoryBrief
    url: str


class MarkRead(_Body):
    last_read_at: datetime | None = Field(
        default=None, description="Only lines updated at or before this time are marked read (default: now).")


class Subscription(BaseModel):
    """How much of a repository's activity the caller hears about. ``subscribed``: every issue, pull request and
    comment (watch level ``all``); ``ignored``: nothing, not even mentions; neither: only threads the caller takes
    part in (``participating``, the default)."""

    subscribed: bool
    ignored: bool
    level: WatchLevel
    repository: RepositoryBrief


class SubscriptionUpdate(_Body):
    subscribed: bool = False
    ignored: bool = False


# --- search ---------------------------------------------------------------------------------------------------


class RepositorySearch(BaseModel):
    total_count: int
    items: list[RepositoryOut]


class UserSearch(BaseModel):
    total_count: int
    items: list[User]


class IssueSearch(BaseModel):
    total_count: int
    items: list[IssueOut]
