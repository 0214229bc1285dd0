"""The signed-in user's settings: profile and avatar, password, email addresses, access tokens, sessions."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.accounts import sessions as web_sessions
from forge.accounts import tokens, users
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import ForgeError, InvalidInput, PermissionDenied
from forge.i18n import N_
from web.auth import SESSION_COOKIE, Identity
from web.forms import field, read_form, redirect
from web.state import require_user, run_db, settings_of
from web.templating import render


def _settings_user(request: Request) -> Account:
    """The signed-in user, refusing requests made with an access token.

    A token carries only its scopes, but these pages can mint new tokens and change the password; and a
    non-browser client controls both halves of the double-submit CSRF check. So a token (even a read-only one)
    must never reach them, or it could be turned into a token with every scope.
    """
    user = require_user(request)
    if request.state.token_scopes is not None:
        raise PermissionDenied(
            N_("Account settings cannot be used with an access token. Sign in with a browser.")
        )
    return user


def _identity(request: Request) -> Identity:
    identity: Identity = request.state.identity
    return identity


def _me(session: Session, user: Account) -> Account:
    # request.state.user belongs to the middleware's session; changes go through a copy loaded in this one.
    assert user.id is not None
    fresh = users.get_account_by_id(session, user.id)
    assert fresh is not None
    return fresh


def _status(exc: ForgeError) -> int:
    # A bare ForgeError is a rule on the submitted form, i.e. invalid input.
    return 422 if exc.status == 400 else exc.status


async def index(request: Request) -> Response:
    _settings_user(request)
    return RedirectResponse("/settings/profile", status_code=303)


# --- profile and avatar -------------------------------------------------------------------------------------


def _profile_form(user: Account) -> dict[str, str]:
    return {"display_name": user.display_name, "bio": user.bio, "website": user.website,
            "locale": user.locale}


def _render_profile(request: Request, form: dict[str, str], error: ForgeError | None = None,
                    avatar_error: ForgeError | None = None) -> Response:
    failure = error or avatar_error
    return render(request, "settings/profile.html",
                  {"section": "profile", "form": form, "error": error, "avatar_error": avatar_error,
                   "max_avatar_kb": settings_of(request).max_avatar_bytes // 1024},
                  status=_status(failure) if failure else 200)


async def profile_page(request: Request) -> Response:
    user = _settings_user(request)
    return _render_profile(request, _profile_form(user))


async def update_profile(request: Request) -> Response:
    user = _settings_user(request)
    form = await read_form(request)
    values = {"display_name": field(form, "display_name"), "bio": field(form, "bio"),
              "website": field(form, "website"), "locale": field(form, "locale")}

    def work(s: Session) -> None:
        users.update_profile(s, _me(s, user), **values)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return _render_profile(request, values, error=exc)
    return redirect(request, "/settings/profile", N_("Your profile has been updated."))


async def upload_avatar(request: Request) -> Response:
    user = _settings_user(request)
    form = await read_form(request)
    settings = settings_of(request)
    try:
        upload = form.get("avatar")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
    finally:
        # Uploads are spooled to temporary files that nothing else closes.
        await form.close()

    def work(s: Session) -> None:
        users.set_avatar(s, _me(s, user), data, avatars_dir=settings.avatars_dir,
                         max_bytes=settings.max_avatar_bytes)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return _render_profile(request, _profile_form(user), avatar_error=exc)
    return redirect(request, "/settings/profile", N_("Your avatar has been updated."))


async def remove_avatar(request: Request) -> Response:
    user = _settings_user(request)
    await read_form(request)
    avatars_dir = settings_of(request).avatars_dir
    await run_db(request, lambda s: users.remove_avatar(s, _me(s, user), avatars_dir=avatars_dir))
    return redirect(request, "/settings/profile", N_("Your avatar has been removed."))


# --- password -----------------------------------------------------------------------------------------------


async def password_page(request: Request) -> Response:
    _settings_user(request)
    return render(request, "settings/password.html", {"section": "password"})


async def change_password(request: Request) -> Response:
    user = _settings_user(request)
    form = await read_form(request)
    current, new = str(form.get("current_password", "")), str(form.get("new_password", ""))
    confirm = str(form.get("new_password_confirm", ""))
    keep = _identity(request).session_id

    def work(s: Session) -> int:
        if new != confirm:
            raise InvalidInput(N_("The two passwords do not match."))
        me = _me(s, user)
        users.change_password(s, me, current, new)
        # Whoever knew the old password may hold a session; a new password should end it.
        return web_sessions.revoke_other_sessions(s, me, keep)

    try:
        signed_out = await run_db(request, work)
    except ForgeError as exc:
        return render(request, "settings/password.html", {"section": "password", "error": exc},
                      status=_status(exc))
    if signed_out:
        return redirect(request, "/settings/password",
                        N_("Your password has been changed. Other sessions signed out: %(n)s."),
                        n=signed_out)
    return redirect(request, "/settings/password", N_("Your password has been changed."))


# --- email addresses ----------------------------------------------------------------------------------------


async def _render_emails(request: Request, user: Account, new_email: str = "",
                         error: ForgeError | None = None) -> Response:
    emails = await run_db(request, lambda s: users.list_emails(s, user))
    return render(request, "settings/emails.html",
                  {"section": "emails", "emails": emails, "new_email": new_email, "error": error},
                  status=_status(error) if error else 200)


async def emails_page(request: Request) -> Response:
    user = _settings_user(request)
    return await _render_emails(request, user)


async def add_email(request: Request) -> Response:
    user = _settings_user(request)
    form = await read_form(request)
    email = field(form, "email")
    try:
        added = await run_db(request, lambda s: users.add_email(s, _me(s, user), email))
    except ForgeError as exc:
        return await _render_emails(request, user, email, exc)
    return redirect(request, "/settings/emails", N_("Added %(email)s."), email=added.email)


async def delete_email(request: Request) -> Response:
    user = _settings_user(request)
    await read_form(request)
    email_id: int = request.path_params["email_id"]
    try:
        await run_db(request, lambda s: users.delete_email(s, _me(s, user), email_id))
    except ForgeError as exc:
        return await _render_emails(request, user, error=exc)
    return redirect(request, "/settings/emails", N_("The email address has been removed."))


async def make_primary_email(request: Request) -> Response:
    user = _settings_user(request)
    await read_form(request)
    email_id: int = request.path_params["email_id"]
    await run_db(request, lambda s: users.set_primary_email(s, _me(s, user), email_id))
    return redirect(request, "/settings/emails", N_("Your primary email address has been changed."))


# --- access tokens ------------------------------------------------------------------------------------------


def _offered_scopes(user: Account) -> list[str]:
    return [scope for scope in tokens.SCOPES if scope != "admin" or user.is_admin]


async def _render_tokens(request: Request, user: Account, *, form: dict[str, Any] | None = None,
                         error: ForgeError | None = None, created: Any = None, secret: str = "") -> Response:
    items = await run_db(request, lambda s: tokens.list_tokens(s, user))
    ctx = {
        "section": "tokens",
        "tokens": items,
        "scopes": _offered_scopes(user),
        "expiry_choices": tokens.EXPIRY_CHOICES,
        "form": form or {"name": "", "scopes": [], "expires": str(tokens.DEFAULT_EXPIRY_DAYS)},
        "error": error,
        "created": created,
        "secret": secret,
        "now": utcnow(),
    }
    response = render(request, "settings/tokens.html", ctx, status=_status(error) if error else 200)
    if secret:
        # The page holds a secret: keep it out of browser and proxy caches.
        response.headers["cache-control"] = "no-store"
    return response


async def tokens_page(request: Request) -> Response:
    user = _settings_user(request)
    return await _render_tokens(request, user)


def _parse_expiry(value: str) -> int | None:
    if value == "never":
        return None
    if value.isdigit() and int(value) in tokens.EXPIRY_CHOICES:
        return int(value)
    raise InvalidInput(N_("Choose when the token expires."))


async def create_token(request: Request) -> Response:
    user = _settings_user(request)
    form = await read_form(request)
    values: dict[str, Any] = {
        "name": field(form, "name"),
        "scopes": [str(v) for v in form.getlist("scopes")],
        "expires": field(form, "expires"),
    }

    def work(s: Session) -> tuple[Any, str]:
        days = _parse_expiry(values["expires"])
        return tokens.create_token(s, _me(s, user), values["name"], values["scopes"], expires_in_days=days)

    try:
        token, secret = await run_db(request, work)
    except ForgeError as exc:
        return await _render_tokens(request, user, form=values, error=exc)
    # Rendered directly, never redirected: the secret must not travel through a cookie or a URL.
    return await _render_tokens(request, user, created=token, secret=secret)


async def revoke_token(request: Request) -> Response:
    user = _settings_user(request)
    await read_form(request)
    token_id: int = request.path_params["token_id"]
    await run_db(request, lambda s: tokens.revoke(s, _me(s, user), token_id))
    return redirect(request, "/settings/tokens", N_("The token has been revoked."))


# --- sessions -----------------------------------------------------------------------------------------------


async def sessions_page(request: Request) -> Response:
    user = _settings_user(request)
    items = await run_db(request, lambda s: web_sessions.list_sessions(s, user))
    return render(request, "settings/sessions.html",
                  {"section": "sessions", "sessions": items, "current_id": _identity(request).session_id})


async def revoke_session(request: Request) -> Response:
    user = _settings_user(request)
    await read_form(request)
    session_id: int = request.path_params["session_id"]
    await run_db(request, lambda s: web_sessions.revoke_session(s, _me(s, user), session_id))
    if session_id == _identity(request).session_id:
        # This browser's own session is gone: finish signing it out.
        response = redirect(request, "/user/login", N_("You have signed out."), "info")
        response.delete_cookie(SESSION_COOKIE)
        return response
    return redirect(request, "/settings/sessions", N_("That browser has been signed out."))


async def revoke_other_sessions(request: Request) -> Response:
    user = _settings_user(request)
    await read_form(request)
    keep = _identity(request).session_id
    count = await run_db(request, lambda s: web_sessions.revoke_other_sessions(s, _me(s, user), keep))
    return redirect(request, "/settings/sessions", N_("Other sessions signed out: %(n)s."), n=count)


routes: list[BaseRoute] = [
    Route("/settings", index, methods=["GET"], name="settings"),
    Route("/settings/profile", profile_page, methods=["GET"], name="settings_profile"),
    Route("/settings/profile", update_profile, methods=["POST"]),
    Route("/settings/avatar", upload_avatar, methods=["POST"], name="settings_avatar"),
    Route("/settings/avatar/delete", remove_avatar, methods=["POST"], name="settings_avatar_delete"),
    Route("/settings/password", password_page, methods=["GET"], name="settings_password"),
    Route("/settings/password", change_password, methods=["POST"]),
    Route("/settings/emails", emails_page, methods=["GET"], name="settings_emails"),
    Route("/settings/emails", add_email, methods=["POST"]),
    Route("/settings/emails/{email_id:int}/delete", delete_email, methods=["POST"]),
    Route("/settings/emails/{email_id:int}/primary", make_primary_email, methods=["POST"]),
    Route("/settings/tokens", tokens_page, methods=["GET"], name="settings_tokens"),
    Route("/settings/tokens", create_token, methods=["POST"]),
    Route("/settings/tokens/{token_id:int}/delete", revoke_token, methods=["POST"]),
    Route("/settings/sessions", sessions_page, methods=["GET"], name="settings_sessions"),
    Route("/settings/sessions/others/delete", revoke_other_sessions, methods=["POST"]),
    Route("/settings/sessions/{session_id:int}/delete", revoke_session, methods=["POST"]),
]
