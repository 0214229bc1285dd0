"""Form handling: CSRF protection and flash messages.

CSRF uses the double-submit pattern: a random ``forge_csrf`` cookie (SameSite=Lax, HttpOnly) and the same value
in a hidden ``csrf_token`` field of every form (or an ``X-CSRF-Token`` header). A cross-site page can make the
browser send the cookie but cannot read it to fill in the field. Requests authenticated by a token or Basic
credentials (git, API clients) carry no cookie-based authority and are not checked.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forge.errors import ForgeError, InvalidInput
from forge.i18n import N_
from web.state import settings_of

CSRF_COOKIE = "forge_csrf"
FLASH_COOKIE = "forge_flash"
MAX_FORM_BYTES = 8 * 1024 * 1024


class CsrfError(ForgeError):
    status = 403


def csrf_token(request: Request) -> str:
    """The token for this browser, creating one (set on the response by the template renderer) if needed."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return str(token)


def set_csrf_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE, new, httponly=True, samesite="lax", secure=settings_of(request).secure_cookies,
            max_age=365 * 24 * 3600,
        )


async def read_form(request: Request) -> FormData:
    """Parse the submitted form and check its CSRF token."""
    form = await request.form(max_part_size=MAX_FORM_BYTES)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token", ""))
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfError(N_("The form has expired or was sent from another site. Reload the page and try again."))
    # PostgreSQL text cannot hold NUL (and no person types one): refuse it for every form in one place.
    if any(isinstance(value, str) and "\x00" in value for _, value in form.multi_items()):
        raise InvalidInput(N_("Text must not contain NUL characters."))
    return form


async def read_json_object(request: Request, max_bytes: int = 64 * 1024) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``); InvalidInput says what is wrong with it."""
    body = await request.body()
    if len(body) > max_bytes:
        raise InvalidInput(N_("The request body is too large."))
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(N_("The request body is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise InvalidInput(N_("The request body must be a JSON object."))
    return data


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def checkbox(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def _serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(settings_of(request).resolved_secret_key(), salt="flash")


def redirect(request: Request, url: str, message: str = "", kind: str = "success", **params: Any) -> Response:
    """POST-redirect-GET with an optional message shown once on the next page (translated there)."""
    response = RedirectResponse(url, status_code=303)
    if message:
        value = _serializer(request).dumps({"m": message, "k": kind, "p": params})
        response.set_cookie(FLASH_COOKIE, value, httponly=True, samesite="lax", max_age=300)
    return response


def pop_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data: dict[str, Any] = _serializer(request).loads(raw)
    except BadSignature:
        return None
    request.state.flash_consumed = True
    return data
