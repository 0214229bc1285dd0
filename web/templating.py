"""Jinja2 set-up and the one function handlers use to render a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from forge.accounts.tokens import SCOPES
from web import i18n, notification_ui
from web.forms import FLASH_COOKIE, csrf_token, pop_flash, set_csrf_cookie
from web.state import current_user, settings_of

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "xml"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.install_gettext_callables(i18n.raw_gettext, i18n.raw_ngettext, newstyle=True)  # type: ignore[attr-defined]
env.globals.update(
    LOCALES=i18n.LOCALES,
    LOCALE_NAMES=i18n.LOCALE_NAMES,
    TOKEN_SCOPES=SCOPES,
)
env.filters["datetime"] = i18n.fmt_datetime
env.filters["ago"] = i18n.fmt_ago


def avatar_url(account: Any, size: int = 40) -> str:
    if account is None:
        return "/static/img/default-avatar.svg"
    return f"/avatars/{account.name}?v={account.avatar_version}&s={size}"


env.globals["avatar_url"] = avatar_url
# The unread count in the top bar and the watch control in the repository header (see web/notification_ui.py).
env.globals["unread_notifications"] = notification_ui.unread_notifications
env.globals["watch_state"] = notification_ui.watch_state


def tr_error(exc: Any) -> str:
    """Translate a domain error's message and fill in its parameters."""
    return i18n.gettext(exc.message, **exc.params)


env.globals["tr_error"] = tr_error


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    settings = settings_of(request)
    flash = pop_flash(request)
    if flash:
        message_id = flash["m"]  # the English message id stored by web.forms.redirect
        flash = {"kind": flash["k"], "text": i18n.gettext(message_id, **flash.get("p", {}))}
    ctx: dict[str, Any] = {
        "request": request,
        "user": current_user(request),
        "csrf_token": csrf_token(request),
        "locale": i18n.get_locale(),
        "flash": flash,
        "base_url": settings.public_url(),
        "path": request.url.path,
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status)
    set_csrf_cookie(request, response)
    if getattr(request.state, "flash_consumed", False):
        response.delete_cookie(FLASH_COOKIE)
    return response
