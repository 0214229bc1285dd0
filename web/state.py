"""What the web layer keeps for the life of the app, and helpers handlers use to reach it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from forge.accounts.models import Account
from forge.db.engine import is_nul_refusal, session_scope
from forge.errors import AuthenticationRequired, InvalidInput, PermissionDenied
from forge.i18n import N_
from forge.settings import Settings

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    engine: Engine


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.forge
    return state


def settings_of(request: Request) -> Settings:
    return app_state(request).settings


async def run_db(request: Request, fn: Callable[[Session], T]) -> T:
    """Run ``fn(session)`` in a worker thread inside one transaction (committed on success)."""
    engine = app_state(request).engine

    def work() -> T:
        try:
            with session_scope(engine) as session:
                return fn(session)
        except Exception as exc:
            # PostgreSQL refuses NUL in text (a URL or form field carrying %00): the request is bad, not the server.
            if is_nul_refusal(exc):
                raise InvalidInput(N_("Text must not contain NUL characters.")) from exc
            raise

    return await run_in_threadpool(work)


def current_user(request: Request) -> Account | None:
    user: Account | None = request.state.user
    return user


def require_user(request: Request) -> Account:
    user = current_user(request)
    if user is None:
        raise AuthenticationRequired(N_("Sign in to continue."))
    return user


def require_site_admin(request: Request) -> Account:
    user = require_user(request)
    if not user.is_admin:
        raise PermissionDenied(N_("Only site administrators can see this page."))
    return user
