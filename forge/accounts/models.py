"""Accounts: users and organisations share one namespace (the ``account`` table), like Gitea and GitHub.

A repository URL starts with an owner name that may be either, so one table with a ``kind`` column keeps the name
unique across both without a cross-table check.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow


class AccountKind(enum.StrEnum):
    USER = "user"
    ORG = "org"


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=AccountKind.USER, max_length=8, index=True)
    name: str = Field(max_length=64)
    lower_name: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(default="", max_length=128)
    bio: str = Field(default="", max_length=1024)
    website: str = Field(default="", max_length=256)
    # Users only; empty for organisations.
    password_hash: str = Field(default="", max_length=256)
    is_admin: bool = False
    # False while a sign-up waits for admin approval.
    is_active: bool = True
    is_blocked: bool = False
    locale: str = Field(default="", max_length=16)
    has_avatar: bool = False
    avatar_version: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None

    @property
    def is_org(self) -> bool:
        return self.kind == AccountKind.ORG


class EmailAddress(SQLModel, table=True):
    __tablename__ = "email_address"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254)
    lower_email: str = Field(max_length=254, unique=True, index=True)
    is_primary: bool = False
    is_verified: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """Server-side record behind the session cookie. Deleting the row signs the browser out."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)


class AccessToken(SQLModel, table=True):
    """Personal access token. Only a SHA-256 of the secret is kept; the secret is shown once at creation."""

    __tablename__ = "access_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    # First characters of the token, shown in lists so people can tell tokens apart.
    token_prefix: str = Field(max_length=16)
    scopes: str = Field(default="", max_length=512)  # space separated
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class OrgMember(SQLModel, table=True):
    __tablename__ = "org_member"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    is_owner: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Team(SQLModel, table=True):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("org_id", "lower_name"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=64)
    lower_name: str = Field(max_length=64)
    description: str = Field(default="", max_length=512)
    # read / write / admin, applied to every repository linked to the team (or all of the org's, see below).
    permission: str = Field(default="read", max_length=8)
    includes_all_repos: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_member"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")


class TeamRepo(SQLModel, table=True):
    __tablename__ = "team_repo"
    __table_args__ = (UniqueConstraint("team_id", "repo_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True, ondelete="CASCADE")
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")


class SiteSetting(SQLModel, table=True):
    """Settings an admin changes at run time (sign-up mode...). Defaults come from Settings."""

    __tablename__ = "site_setting"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="", max_length=1024)
