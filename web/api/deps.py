"""What every API handler needs: who is calling (with which scopes) and a database session.

Handlers are plain ``def`` functions: FastAPI runs them in a worker thread, so they open the session themselves
with ``with db(request) as session:`` and return a schema built inside it (the transaction commits when the block
ends, before the response is sent, so a client that gets 201 finds the change on its next request).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from forge.accounts.models import Account
from forge.db.engine import is_nul_refusal, session_scope
from forge.errors import AuthenticationRequired, InvalidInput, PermissionDenied
from forge.i18n import N_
from forge.settings import Settings
from web.forms import CSRF_COOKIE
from web.state import AppState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.forge
    return state


def settings_of(request: Request) -> Settings:
    return app_state(request).settings


@contextmanager
def db(request: Request) -> Iterator[Session]:
    """One transaction, committed when the block ends without an exception (blocking: call from ``def`` handlers)."""
    try:
        with session_scope(app_state(request).engine) as session:
            yield session
    except Exception as exc:
        if is_nul_refusal(exc):
            raise InvalidInput(N_("Text must not contain NUL characters.")) from exc
        raise


@dataclass(frozen=True)
class Caller:
    """The identity a request carries. ``scopes`` is None for a session cookie or a password (every scope the
    user's permissions allow); for an access token it is the token's scopes, which narrow what the user may do."""

    user: Account | None
    scopes: frozenset[str] | None

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def require_scope(self, scope: str) -> None:
        """Refuse a token without ``scope`` (anonymous callers pass: visibility rules decide what they see)."""
        if self.user is not None and not self.allows(scope):
            raise PermissionDenied(N_("This access token lacks the %(scope)s scope."), scope=scope)

    def require_user(self, scope: str | None = None) -> Account:
        """The signed-in user, refusing anonymous callers (401) and tokens without ``scope`` (403)."""
        if self.user is None:
            raise AuthenticationRequired(N_("Authentication required."))
        if scope is not None:
            self.require_scope(scope)
        return self.user

    def require_admin(self) -> Account:
        user = self.require_user("admin")
        if not user.is_admin:
            raise PermissionDenied(N_("Only site administrators may do this."))
        return user


def _refuse_nul(request: Request) -> None:
    # PostgreSQL text cannot hold NUL and git names cannot either; refuse it here once rather than in every
    # parameter of every operation (bodies are checked by the same rule in errors.py when the database refuses).
    if "\x00" in request.url.path or "%00" in request.url.query:
        raise InvalidInput(N_("Text must not contain NUL characters."))


def get_caller(request: Request) -> Caller:
    """Resolve the caller from what the auth middleware found. Wrong credentials are a 401 even on public data
    (a client should learn its token is bad, not silently see less); a browser session changing something must
    send the CSRF token the web UI's pages carry, in ``X-CSRF-Token``."""
    _refuse_nul(request)
    identity = request.state.identity
    if identity.bad_credentials:
        raise AuthenticationRequired(identity.refusal or N_("Incorrect user name, password or token."))
    if identity.session_id is not None and request.method not in SAFE_METHODS:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = request.headers.get("x-csrf-token", "")
        if not cookie or not secrets.compare_digest(cookie, sent):
            raise PermissionDenied(N_("Send the page's CSRF token in the X-CSRF-Token header."))
    return Caller(user=identity.user, scopes=identity.token_scopes)


CallerDep = Annotated[Caller, Depends(get_caller)]
