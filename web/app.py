"""The ASGI application: web UI, git smart HTTP and the REST API (a FastAPI app mounted at /api/v1), in one app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ci import background as ci_background
from ci import secret_box
from community import background as community_background
from community.notifications import fanout
from forge import background
from forge.bootstrap import prepare
from forge.errors import AuthenticationRequired, ForgeError
from forge.settings import Settings
from forge.webhooks import delivery as webhook_delivery
from forge.webhooks import fanout as webhook_fanout
from web import i18n
from web.api.app import PREFIX as API_PREFIX
from web.api.app import build_api
from web.auth import AuthMiddleware
from web.git_http import GitHttpApp, match_git_path
from web.routes import API_ROUTES_FIRST, ROUTES
from web.state import AppState
from web.templating import render

log = logging.getLogger("forge.web")
STATIC_DIR = Path(__file__).resolve().parent / "static"


class LocaleMiddleware:
    """Sets the request's locale (user setting, cookie, Accept-Language, default) for gettext and templates."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.default = settings.default_locale

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            conn = HTTPConnection(scope)
            user = scope.get("state", {}).get("user")
            i18n.set_locale(
                i18n.negotiate(
                    user.locale if user else "",
                    conn.cookies.get("forge_locale", ""),
                    conn.headers.get("accept-language", ""),
                    self.default,
                )
            )
        await self.app(scope, receive, send)


class GitDispatch:
    """Sends git smart HTTP requests straight to the git app, everything else to the Starlette router."""

    def __init__(self, app: ASGIApp, git_app: GitHttpApp) -> None:
        self.app = app
        self.git_app = git_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = match_git_path(scope["path"])
            if match is not None:
                await self.git_app(scope, receive, send, match)
                return
        await self.app(scope, receive, send)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def forge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ForgeError)
    message = i18n.gettext(exc.message, **exc.params)
    if _wants_json(request):
        return JSONResponse({"message": message, "errors": []}, status_code=exc.status)
    if isinstance(exc, AuthenticationRequired) and request.method == "GET":
        from urllib.parse import quote

        from starlette.responses import RedirectResponse

        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/user/login?next={quote(target)}", status_code=303)
    return render(request, "error.html", {"status": exc.status, "message": message}, status=exc.status)


async def not_found(request: Request, exc: Exception) -> Response:
    message = i18n.gettext("Page not found.")
    if _wants_json(request):
        return JSONResponse({"message": message, "errors": []}, status_code=404)
    return render(request, "error.html", {"status": 404, "message": message}, status=404)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = i18n.gettext("Something went wrong on our side. The error has been logged.")
    if _wants_json(request):
        return JSONResponse({"message": message, "errors": []}, status_code=500)
    return PlainTextResponse(message, status_code=500)


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    engine = prepare(settings, run_migrations=settings.migrate_on_start)
    # CI/CD variable values are sealed with a key derived from the secret key (ci.secret_box).
    secret_box.install(engine, settings.resolved_secret_key())
    # Activity recorded by any request is fanned out to notifications right after its transaction commits.
    fanout.install_kick_after_commit(engine, settings)
    webhook_delivery.install(engine, settings)  # queued webhook deliveries are sent right after the commit
    webhook_fanout.install_kick_after_commit(engine, settings)  # pushes and activity become deliveries at once
    state = AppState(settings=settings, engine=engine)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler = background.start(
            engine, settings,
            [*background.TASK_MODULES, *ci_background.TASK_MODULES, *community_background.TASK_MODULES],
        )
        try:
            yield
        finally:
            # Wait for a sweep caught mid-query (off the event loop), so the engine is not disposed under it.
            await anyio.to_thread.run_sync(lambda: scheduler.shutdown(wait=True))
            fanout.uninstall_kick_after_commit(engine)
            webhook_fanout.uninstall_kick_after_commit(engine)
            webhook_delivery.uninstall(engine)
            engine.dispose()

    routes: list[BaseRoute] = [
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/healthz", lambda r: PlainTextResponse("ok"), name="healthz"),
        *API_ROUTES_FIRST,
        # The REST API: its own FastAPI app (validation, OpenAPI document, error shape, rate limits, ETags).
        Mount(API_PREFIX, app=build_api(state), name="api"),
        *ROUTES,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ForgeError: forge_error, 404: not_found, 500: server_error},
    )
    app.state.forge = state
    # Order (outermost first): auth resolves the identity, locale uses it, then git or the router.
    inner: ASGIApp = GitDispatch(app, GitHttpApp(engine, settings))
    inner = LocaleMiddleware(inner, settings)
    outer = AuthMiddleware(inner, engine, settings)
    # Keep a handle so tests and lifespan reach the Starlette app behind the middleware.
    outer.starlette = app  # type: ignore[attr-defined]
    return _LifespanProxy(outer, app)


class _LifespanProxy:
    """Routes lifespan events to Starlette and HTTP through the middleware stack."""

    def __init__(self, app: ASGIApp, starlette: Starlette) -> None:
        self.app = app
        self.starlette = starlette
        self.state = starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.starlette(scope, receive, send)
        else:
            await self.app(scope, receive, send)
