"""Sign up, sign in and sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge import site
from forge.accounts import sessions as web_sessions
from forge.accounts import users
from forge.errors import ForgeError
from forge.i18n import N_
from web.auth import SESSION_COOKIE
from web.forms import field, read_form, redirect
from web.state import current_user, run_db, settings_of
from web.templating import render


def _safe_next(target: str) -> str:
    # Only same-site paths: an absolute or protocol-relative URL here would be an open redirect.
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def signup_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    mode = await run_db(request, lambda s: site.signup_mode(s, settings_of(request)))
    return render(request, "account/signup.html", {"mode": mode, "form": {}})


async def signup(request: Request) -> Response:
    form = await read_form(request)
    settings = settings_of(request)
    name, email, password = field(form, "name"), field(form, "email"), str(form.get("password", ""))
    confirm = str(form.get("password_confirm", ""))
    values = {"name": name, "email": email}

    def work(session):  # type: ignore[no-untyped-def]
        mode = site.signup_mode(session, settings)
        first = users.count_users(session) == 0
        if mode == "closed" and not first:
            raise ForgeError(N_("Sign-up is closed on this site. Ask an administrator for an account."))
        if password != confirm:
            raise ForgeError(N_("The two passwords do not match."))
        # The very first account administers the site and is never held for approval.
        active = first or mode == "open"
        user = users.create_user(session, name, password, email, is_admin=first, is_active=active)
        if not active:
            return user, None
        _, token = web_sessions.create_session(
            session, user, days=settings.session_days, ip=_client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        return user, token

    try:
        user, token = await run_db(request, work)
    except ForgeError as exc:
        mode = await run_db(request, lambda s: site.signup_mode(s, settings))
        return render(request, "account/signup.html", {"mode": mode, "form": values, "error": exc},
                      status=exc.status if exc.status != 400 else 422)
    if token is None:
        return redirect(request, "/user/login",
                        N_("Your account was created and is waiting for approval by an administrator."), "info")
    response = redirect(request, "/", N_("Welcome, %(name)s! Your account is ready."), name=user.name)
    _set_session_cookie(request, response, token)
    return response


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = settings_of(request)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
        max_age=settings.session_days * 24 * 3600,
    )


async def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next", "/")), status_code=303)
    return render(request, "account/login.html", {"next": request.query_params.get("next", ""), "login": ""})


async def login(request: Request) -> Response:
    form = await read_form(request)
    settings = settings_of(request)
    login_name, password = field(form, "login"), str(form.get("password", ""))
    next_url = _safe_next(field(form, "next") or "/")

    def work(session):  # type: ignore[no-untyped-def]
        user = users.authenticate(session, login_name, password)
        _, token = web_sessions.create_session(
            session, user, days=settings.session_days, ip=_client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        return token

    try:
        token = await run_db(request, work)
    except ForgeError as exc:
        return render(request, "account/login.html", {"next": next_url, "login": login_name, "error": exc},
                      status=401 if exc.status == 401 else exc.status)
    response = RedirectResponse(next_url, status_code=303)
    _set_session_cookie(request, response, token)
    return response


async def logout(request: Request) -> Response:
    await read_form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await run_db(request, lambda s: web_sessions.revoke_token(s, token))
    response = redirect(request, "/", N_("You have signed out."), "info")
    response.delete_cookie(SESSION_COOKIE)
    return response


routes: list[BaseRoute] = [
    Route("/user/signup", signup_page, methods=["GET"], name="signup"),
    Route("/user/signup", signup, methods=["POST"]),
    Route("/user/login", login_page, methods=["GET"], name="login"),
    Route("/user/login", login, methods=["POST"]),
    Route("/user/logout", logout, methods=["POST"], name="logout"),
]
