"""The notification inbox, watching repositories and notification preferences.

The handlers only parse the request, call community.notifications and render or redirect. Every action is a POST
with the CSRF token, except opening a notification (a link that marks it read and goes to the thread: harmless
if forged, as GitHub's are).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from community.notifications import fanout, inbox, recipients, watches
from forge.accounts.models import Account
from forge.errors import ForgeError, PermissionDenied
from forge.i18n import N_
from forge.mail import outbox
from forge.repos import services as repos
from web.forms import checkbox, field, read_form, redirect
from web.state import app_state, require_user, run_db, settings_of
from web.templating import render


def _safe_next(target: str, default: str) -> str:
    # Same-site paths only: anything else here would be an open redirect.
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok else default


def _page(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _inbox_url(filter_: str, repo_id: int | None = None, page: int = 1) -> str:
    params: dict[str, Any] = {}
    if filter_ != inbox.FILTER_UNREAD:
        params["filter"] = filter_
    if repo_id is not None:
        params["repo"] = repo_id
    if page > 1:
        params["page"] = page
    return "/notifications" + (f"?{urlencode(params)}" if params else "")


# --- the inbox ----------------------------------------------------------------------------------------------


async def inbox_page(request: Request) -> Response:
    user = require_user(request)
    filter_ = request.query_params.get("filter", inbox.FILTER_UNREAD)
    if filter_ not in inbox.FILTERS:
        filter_ = inbox.FILTER_UNREAD
    repo_param = request.query_params.get("repo", "")
    repo_id = int(repo_param) if repo_param.isdigit() else None
    page = _page(request)
    result = await run_db(request, lambda s: inbox.list_inbox(s, user, filter=filter_, page=page, repo_id=repo_id))
    here = _inbox_url(filter_, repo_id, page)
    return render(request, "notifications/inbox.html", {
        "inbox": result,
        "filter": filter_,
        "repo_id": repo_id,
        "here": here,
        "filters": [(f, _inbox_url(f, repo_id)) for f in inbox.FILTERS],
        "all_repos_url": _inbox_url(filter_),
        "prev_url": _inbox_url(filter_, repo_id, page - 1) if page > 1 else "",
        "next_url": _inbox_url(filter_, repo_id, page + 1) if result.has_next else "",
    })


async def open_notification(request: Request) -> Response:
    user = require_user(request)
    notification_id: int = request.path_params["notification_id"]
    url = await run_db(request, lambda s: inbox.open_notification(s, user, notification_id))
    return RedirectResponse(url, status_code=303)


async def _back(request: Request) -> tuple[Account, str]:
    user = require_user(request)
    form = await read_form(request)
    return user, _safe_next(field(form, "next"), "/notifications")


async def mark_read(request: Request) -> Response:
    user, back = await _back(request)
    notification_id: int = request.path_params["notification_id"]
    await run_db(request, lambda s: inbox.mark_read(s, user, notification_id))
    return redirect(request, back)


async def mark_unread(request: Request) -> Response:
    user, back = await _back(request)
    notification_id: int = request.path_params["notification_id"]
    await run_db(request, lambda s: inbox.mark_read(s, user, notification_id, unread=True))
    return redirect(request, back)


async def mark_repo_read(request: Request) -> Response:
    user, back = await _back(request)
    repo_id: int = request.path_params["repo_id"]
    await run_db(request, lambda s: inbox.mark_repo_read(s, user, repo_id))
    return redirect(request, back, N_("Marked the repository's notifications as read."))


async def mark_all_read(request: Request) -> Response:
    user, back = await _back(request)
    await run_db(request, lambda s: inbox.mark_all_read(s, user))
    return redirect(request, back, N_("All notifications are marked as read."))


async def unsubscribe_thread(request: Request) -> Response:
    return await _subscription(request, False)


async def subscribe_thread(request: Request) -> Response:
    return await _subscription(request, True)


async def _subscription(request: Request, subscribed: bool) -> Response:
    user, back = await _back(request)
    issue_id: int = request.path_params["issue_id"]
    await run_db(request, lambda s: inbox.set_subscribed(s, user, issue_id, subscribed))
    if subscribed:
        return redirect(request, back, N_("You are subscribed to this thread."))
    return redirect(request, back, N_("You are unsubscribed from this thread."))


# --- watching a repository ------------------------------------------------------------------------------------


async def watch_repo(request: Request) -> Response:
    user = require_user(request)
    p = request.path_params
    form = await read_form(request)
    level = field(form, "level")
    home = f"/{p['owner']}/{p['repo']}"
    back = _safe_next(field(form, "next"), home)

    def work(s: Session) -> str:
        ref, _ = repos.get_visible_repo(s, user, p["owner"], p["repo"])
        watches.set_watch(s, user, ref, level)
        return level

    await run_db(request, work)
    messages = {
        watches.WATCH_ALL: N_("You are watching this repository."),
        watches.WATCH_PARTICIPATING: N_("You are notified only when you take part or are mentioned."),
        watches.WATCH_IGNORE: N_("You will not be notified about this repository."),
    }
    return redirect(request, back, messages[level])


# --- preferences ----------------------------------------------------------------------------------------------


def _settings_user(request: Request) -> Account:
    # Like the other account settings pages: never reachable with an access token.
    user = require_user(request)
    if request.state.token_scopes is not None:
        raise PermissionDenied(N_("Account settings cannot be used with an access token. Sign in with a browser."))
    return user


async def _render_settings(request: Request, user: Account, error: ForgeError | None = None,
                           form: dict[str, Any] | None = None) -> Response:
    settings = settings_of(request)
    assert user.id is not None
    user_id = user.id

    def load(s: Session) -> dict[str, Any]:
        prefs = watches.get_preferences(s, user_id)
        return {
            "prefs": form or {"email": prefs.email, "own_activity": prefs.own_activity,
                              "auto_watch_own_repos": prefs.auto_watch_own_repos},
            "address": recipients.notification_address(s, user_id),
            "chosen": watches.chosen_levels(s, user),
        }

    ctx = await run_db(request, load)
    ctx.update({"section": "notifications", "error": error, "mail_enabled": outbox.mail_enabled(settings)})
    return render(request, "notifications/settings.html", ctx, status=422 if error else 200)


async def settings_page(request: Request) -> Response:
    user = _settings_user(request)
    return await _render_settings(request, user)


async def save_settings(request: Request) -> Response:
    user = _settings_user(request)
    form = await read_form(request)
    email, own = field(form, "email"), checkbox(form, "own_activity")
    auto_watch = checkbox(form, "auto_watch_own_repos")
    values = {"email": email, "own_activity": own, "auto_watch_own_repos": auto_watch}
    try:
        await run_db(request, lambda s: watches.save_preferences(s, user, email=email, own_activity=own,
                                                                   auto_watch_own_repos=auto_watch))
    except ForgeError as exc:
        return await _render_settings(request, user, exc, values)
    return redirect(request, "/settings/notifications", N_("Your notification settings have been saved."))


def kick(request: Request) -> None:
    """Fan out fresh activity now, off the request (for handlers that just recorded some)."""
    state = app_state(request)
    fanout.kick(state.engine, state.settings)


routes: list[BaseRoute] = [
    Route("/notifications", inbox_page, methods=["GET"], name="notifications"),
    Route("/notifications/read-all", mark_all_read, methods=["POST"]),
    Route("/notifications/repos/{repo_id:int}/read", mark_repo_read, methods=["POST"]),
    Route("/notifications/threads/{issue_id:int}/unsubscribe", unsubscribe_thread, methods=["POST"]),
    Route("/notifications/threads/{issue_id:int}/subscribe", subscribe_thread, methods=["POST"]),
    Route("/notifications/{notification_id:int}/open", open_notification, methods=["GET"]),
    Route("/notifications/{notification_id:int}/read", mark_read, methods=["POST"]),
    Route("/notifications/{notification_id:int}/unread", mark_unread, methods=["POST"]),
    Route("/settings/notifications", settings_page, methods=["GET"], name="settings_notifications"),
    Route("/settings/notifications", save_settings, methods=["POST"]),
    Route("/{owner}/{repo}/watch", watch_repo, methods=["POST"]),
]
