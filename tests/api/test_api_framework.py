"""What every API call shares: the OpenAPI document and its docs page, the error shape, conditional GETs, rate
limits, browser-session calls with their CSRF token, and the `forge api` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_live_server
from tests.factories import PASSWORD
from tests.webclient import WebClient

FORGE = Path(sys.executable).with_name("forge")


def test_the_openapi_document_describes_every_operation_and_its_errors(server: LiveServer) -> None:
    doc = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=60).json()
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "/api/v1"}]
    assert {"token", "bearer", "basic"} <= set(doc["components"]["securitySchemes"])
    assert "/user" in doc["paths"] and "/version" in doc["paths"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "403", "404", "422", "429"):
                assert status in responses, f"{method.upper()} {path} does not document {status}"
            error = responses["404"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_docs_page_serves_swagger_ui_from_the_forge_itself(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/api/v1/docs")
    assert page.status_code == 200
    assert "/api/v1/openapi.json" in page.text
    assert "cdn." not in page.text  # no third-party CDN: installs without internet access still get the page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        resp = httpx.get(f"{server.url}/api/v1/docs/assets/{asset}")
        assert resp.status_code == 200 and len(resp.content) > 10_000


def test_errors_share_one_shape(server: LiveServer) -> None:
    missing = httpx.get(f"{server.url}/api/v1/no/such/thing")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Page not found.", "errors": []}
    wrong_method = httpx.delete(f"{server.url}/api/v1/version")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["message"] == "This method is not allowed here."
    chinese = httpx.get(f"{server.url}/api/v1/user", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 401 and chinese.json()["message"] == "需要身份验证。"


def test_a_basic_password_works_and_a_wrong_one_is_401_even_on_public_data(server: LiveServer, factory) -> None:  # type: ignore[no-untyped-def]
    user = factory.user()
    ok = httpx.get(f"{server.url}/api/v1/user", auth=(user.name, PASSWORD))
    assert ok.status_code == 200 and ok.json()["login"] == user.name
    bad = httpx.get(f"{server.url}/api/v1/version", auth=(user.name, "wrong-password"))
    assert bad.status_code == 401
    assert bad.json()["message"] == "Incorrect user name, password or token."


def test_a_read_answers_304_when_the_etag_still_matches(server: LiveServer, factory) -> None:  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    alice_auth = {"Authorization": f"token {factory.token(alice, ['read:user'])}"}
    first = httpx.get(f"{server.url}/api/v1/user", headers=alice_auth)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    again = httpx.get(f"{server.url}/api/v1/user", headers={**alice_auth, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    # Another caller's answer differs, so the old tag does not match it.
    bob_auth = {"Authorization": f"token {factory.token(bob, ['read:user'])}"}
    other = httpx.get(f"{server.url}/api/v1/user", headers={**bob_auth, "If-None-Match": etag})
    assert other.status_code == 200 and other.json()["login"] == bob.name
    assert "Authorization" in other.headers["vary"]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, server: LiveServer) -> Iterator[LiveServer]:
    live = start_live_server(tmp_path_factory.mktemp("limited-home"), api_rate_limit=3,
                             api_anonymous_rate_limit=2, database_url=server.settings.effective_database_url)
    yield live
    live.stop()


def test_anonymous_callers_are_limited_per_address(limited: LiveServer) -> None:
    answers = [httpx.get(f"{limited.url}/api/v1/version") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "2" for a in answers)
    refused = answers[2]
    assert refused.json()["message"].startswith("API rate limit exceeded")
    assert refused.json()["errors"] == []
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert int(refused.headers["x-ratelimit-reset"]) > 0
    # The documentation is not an API call and stays reachable.
    assert httpx.get(f"{limited.url}/api/v1/openapi.json", timeout=60).status_code == 200


def test_each_token_has_its_own_budget(limited: LiveServer, factory) -> None:  # type: ignore[no-untyped-def]
    user = factory.user()
    first = {"Authorization": f"token {factory.token(user, ['read:user'])}"}
    second = {"Authorization": f"token {factory.token(user, ['read:user'])}"}
    statuses = [httpx.get(f"{limited.url}/api/v1/user", headers=first).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    fresh = httpx.get(f"{limited.url}/api/v1/user", headers=second)
    assert fresh.status_code == 200 and fresh.headers["x-ratelimit-limit"] == "3"
    assert fresh.headers["x-ratelimit-remaining"] == "2"


def test_the_web_ui_session_can_call_the_api_and_must_send_its_csrf_token(server: LiveServer, factory) -> None:  # type: ignore[no-untyped-def]
    user = factory.user()
    web = WebClient(server.url)
    try:
        web.login(user.name, PASSWORD)
        me = web.get("/api/v1/user")
        assert me.status_code == 200 and me.json()["login"] == user.name
        refused = web.client.patch("/api/v1/user", json={"full_name": "Mallory"})
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["message"]
        allowed = web.client.patch("/api/v1/user", json={"full_name": "Alice Liddell"},
                                   headers={"X-CSRF-Token": web.csrf()})
        assert allowed.status_code == 200, allowed.text
        assert web.get("/api/v1/user").json()["full_name"] == "Alice Liddell"
    finally:
        web.close()


def _forge_api(server: LiveServer, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    if token:
        env["FORGE_TOKEN"] = token
    return subprocess.run([str(FORGE), "api", "--url", server.url, *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_forge_api_command(server: LiveServer, factory) -> None:  # type: ignore[no-untyped-def]
    user = factory.user()
    token = factory.token(user, ["read:user"])
    ok = _forge_api(server, "GET", "/user", token=token)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["login"] == user.name
    anonymous = _forge_api(server, "GET", "/user")
    assert anonymous.returncode == 1
    assert anonymous.stderr.strip() == "HTTP 401: Authentication required."
    unreachable = subprocess.run([str(FORGE), "api", "--url", "http://127.0.0.1:9", "GET", "/version"],
                                 capture_output=True, text=True, timeout=60, check=False)
    assert unreachable.returncode == 2 and "Could not reach the forge" in unreachable.stderr
