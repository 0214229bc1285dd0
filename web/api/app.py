"""Building the API application: routers, error handlers, middleware, the OpenAPI document and its docs page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_swagger
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

import forge
from forge.errors import ForgeError
from web.api import errors
from web.api.deps import get_caller
from web.api.middleware import ETagMiddleware, RateLimitMiddleware
from web.api.ratelimit import RateLimiter
from web.api.routes import ROUTERS
from web.state import AppState

PREFIX = "/api/v1"
SWAGGER_ASSETS = Path(fastapi_swagger.__file__).resolve().parent / "resources"

DESCRIPTION = """\
The forge's REST API. Authenticate with a personal access token (`Authorization: token <token>` or
`Authorization: Bearer <token>`), or call anonymously for public data. Errors have one shape,
`{"message": ..., "errors": [{"field", "message", "code"}]}`. Lists are paged with `page` and `per_page`
(at most 100) and link their pages in the `Link` header. Successful reads carry an `ETag`; send it back in
`If-None-Match` to get `304 Not Modified`. Every answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset`. A guide with examples is in the forge's docs/api.md.
"""

SECURITY_SCHEMES: dict[str, Any] = {
    "token": {"type": "apiKey", "in": "header", "name": "Authorization",
              "description": "`token <personal access token>`"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "A personal access token as a bearer token."},
    "basic": {"type": "http", "scheme": "basic", "description": "User name and password (or a token as password)."},
}


def build_api(state: AppState) -> FastAPI:
    api = FastAPI(
        title="Forge API",
        version=forge.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # Every operation resolves the caller first: wrong credentials are a 401 even on public data, and a
        # browser session's unsafe request is checked for its CSRF token before any handler runs.
        dependencies=[Depends(get_caller)],
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            ForgeError: errors.forge_error,
            RequestValidationError: errors.validation_error,
            HTTPException: errors.http_error,
            500: errors.server_error,
        },
    )
    api.state.forge = state
    for router in ROUTERS:
        api.include_router(router, responses=errors.ERROR_RESPONSES)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            doc = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes,
                              servers=[{"url": PREFIX}])
            doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            # Anonymous calls are allowed everywhere (each operation decides what they may see).
            doc["security"] = [{}, {"token": []}, {"bearer": []}, {"basic": []}]
            api.openapi_schema = doc
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]

    @api.get("/docs", include_in_schema=False)
    def docs_page(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{PREFIX}/openapi.json",
            title="Forge API",
            swagger_js_url=f"{PREFIX}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/docs/assets/favicon-32x32.png",
            # 170 operations: start with the resource groups folded, with a filter box to find an operation.
            swagger_ui_parameters={"docExpansion": "none", "filter": True, "persistAuthorization": True},
        )

    api.mount("/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="api_docs_assets")
    # Outermost first: the rate limit answers 429 before any work; ETags wrap what the handlers produce.
    limiter = RateLimiter()
    api.state.rate_limiter = limiter
    api.add_middleware(ETagMiddleware)
    api.add_middleware(RateLimitMiddleware, settings=state.settings, limiter=limiter)
    return api
