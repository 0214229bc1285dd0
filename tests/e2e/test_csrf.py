"""Every form carries the browser's real CSRF token, and a post without it is refused."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.mark.parametrize("path", ["/user/login", "/user/signup"])
def test_anonymous_forms_carry_the_cookie_token(web, path):  # type: ignore[no-untyped-def]
    page = web.get(path)
    cookie = page.cookies.get("forge_csrf") or web.client.cookies.get("forge_csrf")
    tokens = _TOKEN.findall(page.text)
    assert tokens and cookie
    assert all(t == cookie for t in tokens)


def test_signed_in_forms_carry_the_cookie_token(web, factory):  # type: ignore[no-untyped-def]
    user = factory.user()
    web.login(user.name, PASSWORD)
    cookie = web.client.cookies.get("forge_csrf")
    for path in ("/", "/repo/new", "/org/new"):
        tokens = _TOKEN.findall(web.get(path).text)
        assert tokens, path
        assert all(t == cookie for t in tokens), path


def test_post_without_token_is_refused_and_changes_nothing(web, factory):  # type: ignore[no-untyped-def]
    user = factory.user()
    web.login(user.name, PASSWORD)
    resp = web.post("/repo/new", {"owner": user.name, "name": "csrf-victim"}, csrf=False)
    assert resp.status_code == 403
    assert "The form has expired or was sent from another site" in resp.text
    assert web.get(f"/{user.name}/csrf-victim").status_code == 404
