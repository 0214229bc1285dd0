"""API: user profiles, the user list, and the caller's own profile, e-mail addresses and organisations.

``GET /user`` itself is in meta.py. Profiles are public (as the web's profile pages are); organisation memberships
are not (the web shows an organisation's members to its members only), so ``GET /users/{name}/orgs`` lists only
the organisations whose member list the caller could see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from forge.accounts import orgs, users
from forge.accounts.models import AccountKind
from forge.accounts.search import search_accounts
from forge.wire.users import CurrentUser, User, UserBrief, current_user, user_brief, user_profile
from web.api.deps import CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import AccountName
from web.api.schemas.people import Email, UserUpdate

router = APIRouter(tags=["users"])

SearchText = Annotated[str, Query(max_length=100, description="Words the name or display name must contain.")]


@router.get("/users", response_model=list[UserBrief], summary="List users",
            responses=LIST_RESPONSES)
def list_users(request: Request, response: Response, page: PageDep, q: SearchText = "") -> list[UserBrief]:
    """Users (not organisations) by name; ``q`` keeps those whose name or display name contains its words."""
    base = settings_of(request).public_url()
    with db(request) as session:
        found, total = search_accounts(session, q, kind=AccountKind.USER, offset=page.offset, limit=page.limit)
        items = [user_brief(a, base) for a in found]
    link_headers(request, response, page, total)
    return items


@router.get("/users/{name}", response_model=User, summary="A user's or organisation's profile")
def get_user(request: Request, name: AccountName) -> User:
    """Organisations are found here too, with ``type`` Organization (as on Gitea)."""
    with db(request) as session:
        account = users.get_account(session, name)
        return user_profile(account, settings_of(request).public_url())


@router.patch("/user", response_model=CurrentUser, summary="Change the caller's profile")
def update_current_user(request: Request, caller: CallerDep, body: UserUpdate) -> CurrentUser:
    """Needs ``write:user``. Only the fields sent change."""
    actor = caller.require_user("write:user")
    with db(request) as session:
        account = users.get_account_by_id(session, actor.id or 0)
        assert account is not None
        users.update_profile(session, account, display_name=body.full_name, bio=body.bio, website=body.website,
                             locale=body.locale)
        return current_user(account, settings_of(request).public_url(), users.primary_email(session, account))


@router.get("/user/emails", response_model=list[Email], summary="The caller's e-mail addresses")
def list_emails(request: Request, caller: CallerDep) -> list[Email]:
    """Needs ``read:user``. The primary address comes first."""
    actor = caller.require_user("read:user")
    with db(request) as session:
        return [Email(email=a.email, primary=a.is_primary, verified=a.is_verified)
                for a in users.list_emails(session, actor)]


@router.get("/user/orgs", response_model=list[UserBrief], summary="The caller's organisations",
            responses=LIST_RESPONSES)
def list_own_orgs(request: Request, response: Response, caller: CallerDep, page: PageDep) -> list[UserBrief]:
    """Needs ``read:org``."""
    actor = caller.require_user("read:org")
    base = settings_of(request).public_url()
    with db(request) as session:
        found = orgs.orgs_of(session, actor)
    link_headers(request, response, page, len(found))
    return [user_brief(org, base) for org in page.slice(found)]


@router.get("/users/{name}/orgs", response_model=list[UserBrief], summary="A user's organisations",
            responses=LIST_RESPONSES)
def list_user_orgs(request: Request, response: Response, caller: CallerDep, page: PageDep,
                   name: AccountName) -> list[UserBrief]:
    """The user's organisations that the caller belongs to as well (all of them for the user themselves and for
    site administrators): membership is shown to an organisation's members only. Tokens need ``read:org``."""
    caller.require_scope("read:org")
    base = settings_of(request).public_url()
    with db(request) as session:
        user = users.get_user(session, name)
        viewer = caller.user
        found = [org for org in orgs.orgs_of(session, user)
                 if viewer is not None and (viewer.id == user.id or orgs.is_member(session, org, viewer))]
    link_headers(request, response, page, len(found))
    return [user_brief(org, base) for org in page.slice(found)]
