"""An HTTP client that behaves like a browser for form posts: keeps cookies and sends the CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


class WebClient:
    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def csrf(self) -> str:
        token = self.client.cookies.get("forge_csrf")
        if token:
            return str(token)
        page = self.client.get("/user/login")
        match = _CSRF_RE.search(page.text)
        assert match and match.group(1), "no CSRF token on the sign-in page"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, files: Any = None, *, follow: bool = False,
             csrf: bool = True) -> httpx.Response:
        payload = dict(data or {})
        if csrf:
            payload["csrf_token"] = self.csrf()
        return self.client.post(path, data=payload, files=files, follow_redirects=follow)

    def submit(self, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
        """Post a form the way a browser does: with the CSRF token printed in the page that holds the form (so a
        template that renders an empty token fails the test)."""
        html = self.get(page)
        assert html.status_code == 200, html.text[:500]
        tokens = _CSRF_RE.findall(html.text)
        assert tokens and all(tokens), "a form on the page has an empty CSRF token"
        assert f'action="{action}"' in html.text, f"no form posting to {action} on {page}"
        return self.post(action, {**data, "csrf_token": tokens[-1]}, csrf=False)

    def login(self, name: str, password: str) -> httpx.Response:
        resp = self.post("/user/login", {"login": name, "password": password})
        assert resp.status_code == 303, f"sign-in failed: {resp.status_code} {resp.text[:500]}"
        return resp

    def follow(self, resp: httpx.Response) -> httpx.Response:
        return self.client.get(resp.headers["location"])

    @contextmanager
    def as_user(self, name: str, password: str) -> Iterator[WebClient]:
        """A second browser on the same server, signed in as ``name`` and closed at the end of the block; this
        client keeps its own session, so a test can compare what two people see."""
        other = WebClient(str(self.client.base_url))
        try:
            other.login(name, password)
            yield other
        finally:
            other.close()
