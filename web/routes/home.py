"""The front page, explore pages, language switcher and avatars."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.accounts import orgs, users
from forge.accounts.models import Account, AccountKind
from forge.repos import search as repo_search
from forge.repos import services as repos
from web import i18n
from web.forms import read_form
from web.state import current_user, run_db, settings_of
from web.templating import render


async def index(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        recent = await run_db(request, lambda s: repos.list_repos(s, None, limit=10))
        return render(request, "home.html", {"recent": recent})

    def load(s):  # type: ignore[no-untyped-def]
        return repos.list_repos(s, user, owner=user, limit=100), orgs.orgs_of(s, user), repos.list_repos(
            s, user, limit=10)

    mine, my_orgs, recent = await run_db(request, load)
    return render(request, "dashboard.html", {"mine": mine, "my_orgs": my_orgs, "recent": recent})


def _page_number(request: Request) -> int:
    try:
        return max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        return 1


async def explore_repos(request: Request) -> Response:
    """Repositories the viewer may see, matching ``q`` by name, owner, description or topic; paginated."""
    q = request.query_params.get("q", "").strip()
    user = current_user(request)
    page = _page_number(request)
    found = await run_db(request, lambda s: repo_search.search_repos(s, user, q, page=page))
    pages = {n: "?" + urlencode({"q": q, "page": n} if q else {"page": n}) for n in (page - 1, page + 1)}
    return render(
        request, "explore/repos.html", {"found": found, "repos": found.items, "q": q, "tab": "repos", "pages": pages}
    )


async def explore_accounts(request: Request) -> Response:
    kind = AccountKind.ORG if request.url.path.endswith("/orgs") else AccountKind.USER
    q = request.query_params.get("q", "")
    items = await run_db(request, lambda s: users.list_accounts(s, kind, query=q, limit=100))
    tab = "orgs" if kind == AccountKind.ORG else "users"
    return render(request, "explore/accounts.html", {"accounts": items, "q": q, "tab": tab})


async def set_language(request: Request) -> Response:
    form = await read_form(request)
    locale = str(form.get("locale", ""))
    if locale not in i18n.LOCALES:
        locale = settings_of(request).default_locale
    user = current_user(request)
    if user is not None:
        await run_db(request, lambda s: users.update_profile(s, _reload(s, user), locale=locale))
    target = str(form.get("next") or "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie("forge_locale", locale, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


def _reload(session, account: Account) -> Account:  # type: ignore[no-untyped-def]
    fresh = session.get(Account, account.id)
    assert fresh is not None
    return fresh


async def avatar(request: Request) -> Response:
    name = request.path_params["name"]
    settings = settings_of(request)
    account = await run_db(request, lambda s: users.find_account(s, name))
    if account is not None and account.has_avatar:
        path = users.avatar_path(settings.avatars_dir, account)
        if path.exists():
            return FileResponse(path, media_type="image/png", headers={"cache-control": "public, max-age=3600"})
    return FileResponse(DEFAULT_AVATAR, media_type="image/svg+xml", headers={"cache-control": "public, max-age=3600"})


DEFAULT_AVATAR = Path(__file__).resolve().parent.parent / "static" / "img" / "default-avatar.svg"


routes: list[BaseRoute] = [
    Route("/", index, name="home"),
    Route("/explore/repos", explore_repos, name="explore_repos"),
    Route("/explore/users", explore_accounts, name="explore_users"),
    Route("/explore/orgs", explore_accounts, name="explore_orgs"),
    Route("/language", set_language, methods=["POST"], name="language"),
    Route("/avatars/{name}", avatar, name="avatar"),
]
