"""API: the forge's version and the caller's own profile."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

import forge
from forge.accounts import users
from forge.wire.users import CurrentUser, current_user
from web.api.deps import CallerDep, db, settings_of

router = APIRouter(tags=["meta"])


class Version(BaseModel):
    version: str


@router.get("/version", response_model=Version, summary="The forge's version")
def get_version() -> Version:
    return Version(version=forge.__version__)


@router.get("/user", response_model=CurrentUser, summary="The authenticated user", tags=["users"])
def get_current_user(request: Request, caller: CallerDep) -> CurrentUser:
    """Needs the ``read:user`` scope when called with a token."""
    user = caller.require_user("read:user")
    with db(request) as session:
        email = users.primary_email(session, user)
    return current_user(user, settings_of(request).public_url(), email or "")
