"""Site administration pages under ``/admin`` (site administrators only; forge/admin.py checks it again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge import admin as admin_svc
from forge import site
from forge.accounts import orgs
from forge.accounts.models import Account
from forge.errors import ForgeError, NotFound
from forge.i18n import N_
from web.forms import field, read_form, redirect
from web.routes.orgs import form_status
from web.state import require_site_admin, run_db, settings_of
from web.templating import render


def _page_number(request: Request) -> int:
    try:
        return max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        return 1


def _pager(request: Request, page: int, has_next: bool) -> dict[str, Any]:
    """Links to the previous and next pages that keep the other query parameters."""
    params = {k: v for k, v in request.query_params.items() if k != "page"}

    def link(n: int) -> str:
        return f"{request.url.path}?{urlencode({**params, 'page': n})}"

    return {
        "page": page,
        "prev_url": link(page - 1) if page > 1 else "",
        "next_url": link(page + 1) if has_next else "",
    }


# --- dashboard ---------------------------------------------------------------------------------------------


async def dashboard(request: Request) -> Response:
    admin = require_site_admin(request)
    settings = settings_of(request)

    def load(session: Session) -> tuple[admin_svc.SiteCounts, str]:
        return admin_svc.site_counts(session, admin), site.signup_mode(session, settings)

    counts, mode = await run_db(request, load)
    ctx = {"counts": counts, "signup_mode": mode, "section": "dashboard"}
    return render(request, "admin/dashboard.html", ctx)


# --- users -------------------------------------------------------------------------------------------------


async def _users_page(request: Request, error: ForgeError | None = None, status: int = 200) -> Response:
    admin = require_site_admin(request)
    q = request.query_params.get("q", "").strip()
    flag = request.query_params.get("flag", "all")
    if flag not in admin_svc.USER_FILTERS:
        flag = "all"
    page = _page_number(request)
    items, has_next = await run_db(
        request, lambda s: admin_svc.list_users(s, admin, query=q, flag=flag, page=page)
    )
    ctx = {"users": items, "q": q, "flag": flag, "section": "users", "error": error,
           "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
           **_pager(request, page, has_next)}
    return render(request, "admin/users.html", ctx, status=status)


async def users_page(request: Request) -> Response:
    return await _users_page(request)


UserAction = Callable[[Session, Account, str], Account]

# action in the URL -> (service call, flash message)
USER_ACTIONS: dict[str, tuple[UserAction, str]] = {
    "block": (lambda s, a, n: admin_svc.set_blocked(s, a, n, True),
              N_("%(name)s has been blocked and signed out everywhere.")),
    "unblock": (lambda s, a, n: admin_svc.set_blocked(s, a, n, False), N_("%(name)s has been unblocked.")),
    "promote": (lambda s, a, n: admin_svc.set_admin(s, a, n, True),
                N_("%(name)s is now a site administrator.")),
    "demote": (lambda s, a, n: admin_svc.set_admin(s, a, n, False),
               N_("%(name)s is no longer a site administrator.")),
    "approve": (admin_svc.approve, N_("%(name)s has been approved and can now sign in.")),
}


def _back_to_users(target: str) -> str:
    # Return to the list the admin came from (search and filter kept), but never to another site.
    return target if target.startswith("/admin/users") else "/admin/users"


async def user_action(request: Request) -> Response:
    admin = require_site_admin(request)
    name, action = request.path_params["name"], request.path_params["action"]
    if action not in USER_ACTIONS:
        raise NotFound(N_("Page not found."))
    form = await read_form(request)
    call, message = USER_ACTIONS[action]
    try:
        user = await run_db(request, lambda s: call(s, admin, name))
    except ForgeError as exc:
        return await _users_page(request, exc, form_status(exc))
    return redirect(request, _back_to_users(field(form, "back")), message, name=user.name)


def _delete_user_loader(admin: Account, name: str) -> Callable[[Session], dict[str, Any]]:
    def load(session: Session) -> dict[str, Any]:
        target = admin_svc.get_user(session, admin, name)
        problem: ForgeError | None = None
        try:
            admin_svc.check_user_deletable(session, admin, target)
        except ForgeError as exc:
            problem = exc
        return {
            "target": target,
            "repos": admin_svc.owned_repos(session, target),
            "memberships": admin_svc.memberships_of(session, target),
            "problem": problem,
            "section": "users",
        }

    return load


async def delete_user_page(request: Request) -> Response:
    admin = require_site_admin(request)
    ctx = await run_db(request, _delete_user_loader(admin, request.path_params["name"]))
    return render(request, "admin/delete_user.html", ctx)


async def delete_user(request: Request) -> Response:
    admin = require_site_admin(request)
    name = request.path_params["name"]
    await read_form(request)
    settings = settings_of(request)
    try:
        await run_db(request, lambda s: admin_svc.delete_user(s, settings, admin, name))
    except ForgeError as exc:
        ctx = await run_db(request, _delete_user_loader(admin, name))
        ctx["error"] = exc
        return render(request, "admin/delete_user.html", ctx, status=form_status(exc))
    return redirect(request, "/admin/users", N_("The user %(name)s and their repositories were deleted."),
                    name=name)


# --- organisations -----------------------------------------------------------------------------------------


async def orgs_page(request: Request) -> Response:
    admin = require_site_admin(request)
    q = request.query_params.get("q", "").strip()
    page = _page_number(request)
    items, has_next = await run_db(request, lambda s: admin_svc.list_orgs(s, admin, query=q, page=page))
    ctx = {"orgs": items, "q": q, "section": "orgs", **_pager(request, page, has_next)}
    return render(request, "admin/orgs.html", ctx)


def _delete_org_loader(admin: Account, name: str) -> Callable[[Session], dict[str, Any]]:
    def load(session: Session) -> dict[str, Any]:
        org = admin_svc.get_org(session, admin, name)
        return {
            "org": org,
            "repos": admin_svc.owned_repos(session, org),
            "members": orgs.list_members(session, org),
            "section": "orgs",
        }

    return load


async def delete_org_page(request: Request) -> Response:
    admin = require_site_admin(request)
    ctx = await run_db(request, _delete_org_loader(admin, request.path_params["name"]))
    return render(request, "admin/delete_org.html", ctx)


async def delete_org(request: Request) -> Response:
    admin = require_site_admin(request)
    name = request.path_params["name"]
    await read_form(request)
    settings = settings_of(request)
    await run_db(request, lambda s: admin_svc.delete_org(s, settings, admin, name))
    message = N_("The organisation %(name)s and its repositories were deleted.")
    return redirect(request, "/admin/orgs", message, name=name)


# --- repositories ------------------------------------------------------------------------------------------


async def repos_page(request: Request) -> Response:
    admin = require_site_admin(request)
    q = request.query_params.get("q", "").strip()
    page = _page_number(request)
    items, has_next = await run_db(request, lambda s: admin_svc.list_all_repos(s, admin, query=q, page=page))
    ctx = {"repos": items, "q": q, "section": "repos", **_pager(request, page, has_next)}
    return render(request, "admin/repos.html", ctx)


async def delete_repo_page(request: Request) -> Response:
    admin = require_site_admin(request)
    owner, name = request.path_params["owner"], request.path_params["repo"]
    ref = await run_db(request, lambda s: admin_svc.get_repo(s, admin, owner, name))
    return render(request, "admin/delete_repo.html", {"ref": ref, "section": "repos"})


async def delete_repo(request: Request) -> Response:
    admin = require_site_admin(request)
    owner, name = request.path_params["owner"], request.path_params["repo"]
    await read_form(request)
    settings = settings_of(request)
    await run_db(request, lambda s: admin_svc.delete_repo(s, settings, admin, owner, name))
    message = N_("The repository %(name)s was deleted.")
    return redirect(request, "/admin/repos", message, name=f"{owner}/{name}")


# --- site settings -----------------------------------------------------------------------------------------


async def settings_page(request: Request) -> Response:
    require_site_admin(request)
    settings = settings_of(request)
    mode = await run_db(request, lambda s: site.signup_mode(s, settings))
    return render(request, "admin/settings.html", {"signup_mode": mode, "modes": site.SIGNUP_MODES,
                                                   "section": "settings"})


async def update_settings(request: Request) -> Response:
    admin = require_site_admin(request)
    form = await read_form(request)
    mode = field(form, "signup")
    try:
        await run_db(request, lambda s: admin_svc.set_signup_mode(s, admin, mode))
    except ForgeError as exc:
        ctx = {"signup_mode": mode, "modes": site.SIGNUP_MODES, "section": "settings", "error": exc}
        return render(request, "admin/settings.html", ctx, status=form_status(exc))
    return redirect(request, "/admin/settings", N_("The site settings were saved."))


routes: list[BaseRoute] = [
    Route("/admin", dashboard, methods=["GET"], name="admin"),
    Route("/admin/users", users_page, methods=["GET"], name="admin_users"),
    Route("/admin/users/{name}/delete", delete_user_page, methods=["GET"]),
    Route("/admin/users/{name}/delete", delete_user, methods=["POST"]),
    Route("/admin/users/{name}/{action}", user_action, methods=["POST"]),
    Route("/admin/orgs", orgs_page, methods=["GET"], name="admin_orgs"),
    Route("/admin/orgs/{name}/delete", delete_org_page, methods=["GET"]),
    Route("/admin/orgs/{name}/delete", delete_org, methods=["POST"]),
    Route("/admin/repos", repos_page, methods=["GET"], name="admin_repos"),
    Route("/admin/repos/{owner}/{repo}/delete", delete_repo_page, methods=["GET"]),
    Route("/admin/repos/{owner}/{repo}/delete", delete_repo, methods=["POST"]),
    Route("/admin/settings", settings_page, methods=["GET"], name="admin_settings"),
    Route("/admin/settings", update_settings, methods=["POST"]),
]
