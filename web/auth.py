"""Who is making a request: the session cookie for browsers, Basic or token authentication for git and the API.

Resolution happens once per request in :class:`AuthMiddleware` and is kept in ``scope["state"]``, so handlers
read ``request.state.user`` (``None`` when anonymous) and ``request.state.token_scopes`` (``None`` unless the
request used an access token).

A CI job token (``fjt_…``, as the Basic password with any user name) is no user: it only lets git read the job's
own repository while the job runs (``Identity.job_repo_id``). The runner API (``/api/v1/runners/``) checks its
runner and job tokens itself, so nothing is resolved here for it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ci import tokens as ci_tokens
from forge.accounts import sessions as web_sessions
from forge.accounts import tokens, users
from forge.accounts.credential_cache import CredentialCache
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.errors import ForgeError
from forge.settings import Settings

SESSION_COOKIE = "forge_session"
RUNNER_API_PREFIX = "/api/v1/runners/"


@dataclass
class Identity:
    user: Account | None = None
    token_scopes: frozenset[str] | None = None
    # The access token used, if any (the API's rate limit counts per token).
    token_id: int | None = None
    session_id: int | None = None
    # Set when credentials were given but were wrong, so git/API answer 401 rather than treat it as anonymous.
    bad_credentials: bool = False
    # Why the credentials were refused when the password was right (blocked, awaiting approval).
    refusal: str = ""
    # A CI job token: the repository its running job may clone (and nothing else).
    job_repo_id: int | None = None


def parse_basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def resolve_identity(
    engine: Engine, settings: Settings, headers: Headers, cookie: str, cache: CredentialCache
) -> Identity:
    """Blocking: runs in a worker thread."""
    auth = headers.get("authorization", "")
    with session_scope(engine) as session:
        if auth:
            scheme, _, value = auth.partition(" ")
            scheme = scheme.lower()
            secret = ""
            if scheme in ("token", "bearer"):
                secret = value.strip()
            elif scheme == "basic":
                creds = parse_basic(auth)
                if creds is None:
                    return Identity(bad_credentials=True)
                name, password = creds
                # git asks for "Username/Password": a token may be given as either.
                for candidate in (password, name):
                    if candidate.startswith((tokens.TOKEN_PREFIX, ci_tokens.JOB_PREFIX)):
                        secret = candidate
                        break
                if not secret:
                    try:
                        user = users.authenticate_basic(session, cache, name, password)
                    except ForgeError as exc:
                        refusal = str(exc) if exc.status == 403 else ""
                        return Identity(bad_credentials=True, refusal=refusal)
                    return Identity(user=user)
            if secret.startswith(ci_tokens.JOB_PREFIX):
                repo_id = ci_tokens.running_job_repo(session, secret)
                return Identity(job_repo_id=repo_id) if repo_id is not None else Identity(bad_credentials=True)
            if secret:
                found = tokens.authenticate_token(session, secret)
                if found is None:
                    return Identity(bad_credentials=True)
                token, user = found
                return Identity(user=user, token_scopes=tokens.expand_scopes(token.scopes), token_id=token.id)
            return Identity(bad_credentials=True)
        if cookie:
            found_session = web_sessions.lookup_session(session, cookie, days=settings.session_days)
            if found_session is not None:
                ws, user = found_session
                return Identity(user=user, session_id=ws.id)
    return Identity()


class AuthMiddleware:
    def __init__(self, app: ASGIApp, engine: Engine, settings: Settings) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings
        self.credentials = CredentialCache(settings.resolved_secret_key())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        path = scope["path"]
        if path.startswith(("/static/", RUNNER_API_PREFIX)) or path in ("/favicon.ico", "/healthz"):
            identity = Identity()
        else:
            identity = await run_in_threadpool(
                resolve_identity, self.engine, self.settings, conn.headers, conn.cookies.get(SESSION_COOKIE, ""),
                self.credentials,
            )
        state = scope.setdefault("state", {})
        state["identity"] = identity
        state["user"] = identity.user
        state["token_scopes"] = identity.token_scopes
        await self.app(scope, receive, send)
