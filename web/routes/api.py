"""The first REST endpoints (the full API arrives with its own issue): version and the current user.

Errors use the API's one shape, ``{"message": ..., "errors": [...]}``, produced by the handler in web/app.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import forge
from forge.accounts import users
from forge.errors import AuthenticationRequired, PermissionDenied
from forge.i18n import N_
from web.state import run_db, settings_of


async def version(request: Request) -> Response:
    return JSONResponse({"version": forge.__version__})


async def current_user(request: Request) -> Response:
    user = request.state.user
    if request.state.identity.bad_credentials:
        raise AuthenticationRequired(N_("Incorrect user name, password or token."))
    if user is None:
        raise AuthenticationRequired(N_("Authentication required."))
    scopes = request.state.token_scopes
    if scopes is not None and not scopes & {"read:user", "write:user"}:
        raise PermissionDenied(N_("This access token lacks the read:user scope."))
    email = await run_db(request, lambda s: users.primary_email(s, user))
    base = settings_of(request).public_url()
    return JSONResponse({
        "id": user.id,
        "login": user.name,
        "full_name": user.display_name,
        "email": email,
        "avatar_url": f"{base}/avatars/{user.name}",
        "html_url": f"{base}/{user.name}",
        "is_admin": user.is_admin,
        "created_at": user.created_at.isoformat(),
    })


routes: list[BaseRoute] = [
    Route("/api/v1/version", version, name="api_version"),
    Route("/api/v1/user", current_user, name="api_user"),
]
