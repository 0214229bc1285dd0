"""The first API endpoints and their error shape."""

from __future__ import annotations

import httpx


def test_version_is_public(server):  # type: ignore[no-untyped-def]
    resp = httpx.get(f"{server.url}/api/v1/version")
    assert resp.status_code == 200 and resp.json()["version"]


def test_current_user_by_token_header(server, factory):  # type: ignore[no-untyped-def]
    user = factory.user()
    token = factory.token(user, ["read:user"])
    for header in (f"token {token}", f"Bearer {token}"):
        resp = httpx.get(f"{server.url}/api/v1/user", headers={"Authorization": header})
        assert resp.status_code == 200
        assert resp.json()["login"] == user.name
        assert resp.json()["email"] == f"{user.name}@example.com"


def test_errors_have_one_shape(server, factory):  # type: ignore[no-untyped-def]
    resp = httpx.get(f"{server.url}/api/v1/user")
    assert resp.status_code == 401
    assert resp.json() == {"message": "Authentication required.", "errors": []}
    bad = httpx.get(f"{server.url}/api/v1/user", headers={"Authorization": "token forge_nope"})
    assert bad.status_code == 401
    assert bad.json()["message"] == "Incorrect user name, password or token."
    user = factory.user()
    repo_only = factory.token(user, ["read:repo"])
    resp = httpx.get(f"{server.url}/api/v1/user", headers={"Authorization": f"token {repo_only}"})
    assert resp.status_code == 403
    assert "read:user" in resp.json()["message"]
    assert httpx.get(f"{server.url}/api/v1/nothing").json()["message"] == "Page not found."
