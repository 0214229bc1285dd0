"""The API's one error shape, ``{"message": ..., "errors": [...]}``, for every status it answers with.

Domain errors (forge.errors) keep their status; FastAPI's request validation becomes 422 with one entry per field;
unknown paths and methods become 404/405. Every operation documents these responses (:data:`ERROR_RESPONSES`),
so a client (and the schemathesis test) can rely on the shape whatever went wrong.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from forge.db.engine import is_nul_refusal
from forge.errors import ForgeError
from web import i18n

log = logging.getLogger("forge.api")


class FieldError(BaseModel):
    field: str = Field(description="Where the problem is: a body field, query or path parameter (dotted path).")
    message: str
    code: str = Field(default="invalid", description="A machine-readable reason, e.g. missing, invalid, too_long.")


class ErrorBody(BaseModel):
    message: str = Field(description="What went wrong, in the caller's language.")
    errors: list[FieldError] = Field(default_factory=list)


def _described(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every operation: any of them can be refused for these reasons.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _described("The request cannot be understood."),
    401: _described("Credentials are missing or wrong."),
    403: _described("The credentials lack a scope or the user lacks a permission."),
    404: _described("Not found, or not visible to the caller."),
    409: _described("The change conflicts with the current state."),
    422: _described("A field is missing or invalid."),
    429: _described("Rate limit exceeded; see Retry-After."),
}


def error_response(status: int, message: str, errors: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "errors": errors or []}, status_code=status, headers=headers)


async def forge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ForgeError)
    errors = [{"field": name, "message": i18n.gettext(msg), "code": "invalid"}
              for name, msg in getattr(exc, "field_errors", {}).items()]
    return error_response(exc.status, i18n.gettext(exc.message, **exc.params), errors)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "title") -> "title"; ("query", "page") -> "page"; FastAPI puts the source first.
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _code(kind: str) -> str:
    if kind == "missing":
        return "missing"
    if kind.endswith("too_long"):
        return "too_long"
    if kind.endswith("too_short"):
        return "too_short"
    return "invalid"


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(e.get("loc", ())), "message": str(e.get("msg", "")), "code": _code(e.get("type", ""))}
        for e in exc.errors()
    ]
    return error_response(422, i18n.gettext("The request is not valid."), errors)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = i18n.gettext("Page not found.")
    elif exc.status_code == 405:
        message = i18n.gettext("This method is not allowed here.")
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, headers=dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    if is_nul_refusal(exc):
        return error_response(422, i18n.gettext("Text must not contain NUL characters."))
    log.exception("unhandled API error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, i18n.gettext("Something went wrong on our side. The error has been logged."))
