"""ASGI middleware around the API: rate limits (with ``X-RateLimit-*`` headers) and conditional GETs.

Rate limit: every request spends from its caller's budget (web.api.ratelimit); over it, 429 with ``Retry-After``.

ETag: a successful JSON answer to GET carries a weak ETag computed from its body; a request whose
``If-None-Match`` names it gets 304 with no body. The body is still built (the saving is the transfer and the
client's parsing, as on GitHub), which keeps every handler free of caching code.
"""

from __future__ import annotations

import hashlib
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forge.settings import Settings
from web import i18n
from web.api.errors import error_response
from web.api.ratelimit import RateLimiter

# The documentation page and the document itself are not API calls worth limiting.
_UNLIMITED_SUFFIXES = ("/openapi.json", "/docs")
_UNLIMITED_PREFIX = "/docs/"
# Larger JSON bodies (big lists) are sent without an ETag rather than held twice in memory.
_MAX_ETAG_BODY = 4 * 1024 * 1024


def _client_key(scope: Scope) -> tuple[str, bool]:
    identity = scope.get("state", {}).get("identity")
    if identity is not None and identity.token_id is not None:
        return f"token:{identity.token_id}", True
    if identity is not None and identity.user is not None:
        return f"user:{identity.user.id}", True
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}", False


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.endswith(_UNLIMITED_SUFFIXES) or _UNLIMITED_PREFIX in path:
            await self.app(scope, receive, send)
            return
        key, authenticated = _client_key(scope)
        limit = self.settings.api_rate_limit if authenticated else self.settings.api_anonymous_rate_limit
        if limit <= 0:
            await self.app(scope, receive, send)
            return
        budget = self.limiter.spend(key, limit)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(budget.remaining, 0)),
            "X-RateLimit-Reset": str(budget.reset_at),
        }
        if budget.exhausted:
            retry = max(1, budget.reset_at - int(time.time()))
            response = error_response(
                429, i18n.gettext("API rate limit exceeded; try again in %(seconds)s seconds.", seconds=retry),
                headers={**headers, "Retry-After": str(retry)},
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    wanted = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag.removeprefix("W/") in wanted


class ETagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match", "")
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passthrough = False

        async def buffered_send(message: Message) -> None:
            nonlocal start, size, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if message["status"] != 200 or not content_type.startswith("application/json"):
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body = message.get("body", b"")
            chunks.append(body)
            size += len(body)
            if size > _MAX_ETAG_BODY:
                passthrough = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks),
                            "more_body": message.get("more_body", False)})
                return
            if message.get("more_body", False):
                return
            whole = b"".join(chunks)
            etag = _etag(whole)
            headers = MutableHeaders(scope=start)
            headers["ETag"] = etag
            headers.setdefault("Cache-Control", "private, max-age=0, must-revalidate")
            headers["Vary"] = "Accept, Authorization, Cookie"
            if if_none_match and _matches(if_none_match, etag):
                del headers["content-length"]
                del headers["content-type"]
                await send({**start, "status": 304})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": whole})

        await self.app(scope, receive, buffered_send)
