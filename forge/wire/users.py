"""Users and organisations as the API and webhooks show them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from forge.accounts.models import Account


class UserBrief(BaseModel):
    """A user or organisation where another object refers to it (owner, author, assignee...)."""

    id: int
    login: str
    full_name: str = Field(description="Display name; empty when not set.")
    type: Literal["User", "Organization"]
    avatar_url: str
    html_url: str


class User(UserBrief):
    """A profile (``GET /users/{name}``, ``GET /orgs/{org}``)."""

    bio: str = ""
    website: str = ""
    created_at: datetime


class CurrentUser(User):
    """The caller's own profile (``GET /user``)."""

    email: str = Field(description="Primary e-mail address.")
    is_admin: bool
    locale: str = Field(description="Interface language; empty follows the browser.")


def user_brief(account: Account, base: str) -> UserBrief:
    return UserBrief(
        id=account.id or 0,
        login=account.name,
        full_name=account.display_name,
        type="Organization" if account.is_org else "User",
        avatar_url=f"{base}/avatars/{account.name}",
        html_url=f"{base}/{account.name}",
    )


def user_profile(account: Account, base: str) -> User:
    return User(**user_brief(account, base).model_dump(), bio=account.bio, website=account.website,
                created_at=account.created_at)


def current_user(account: Account, base: str, email: str) -> CurrentUser:
    return CurrentUser(**user_profile(account, base).model_dump(), email=email, is_admin=account.is_admin,
                       locale=account.locale)
