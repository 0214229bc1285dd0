"""The webhook API against a real receiver: create, read, change and delete repository and organisation hooks,
test deliveries with valid signatures, the delivery log, redelivery, validation, SSRF refusals and permissions."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any, get_args

import httpx
import pytest

from forge.db.engine import session_scope
from forge.webhooks.events import SUBSCRIPTIONS
from forge.webhooks.models import Webhook
from tests.hookreceiver import HookReceiver
from web.api.schemas.hooks import EventName


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as r:
        yield r


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def admin_repo(server: Any, factory: Any, scopes: tuple[str, ...] = ("admin:repo",)) -> tuple[str, str, str]:
    """(API base of a new repository's hooks, owner's token, owner name)."""
    owner = factory.user()
    ref = factory.repo(owner)
    return f"{server.url}/api/v1/repos/{ref.full_name}/hooks", factory.token(owner, list(scopes)), owner.name


def wait_deliveries(url: str, token: str, count: int, *, done: bool = True) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items: list[dict[str, Any]] = httpx.get(url, headers=auth(token)).json()
        if len(items) >= count and (not done or all(i["status"] != "pending" for i in items)):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def test_event_names_in_the_schema_are_the_subscriptions() -> None:
    assert set(get_args(EventName)) == {*SUBSCRIPTIONS, "*"}


def test_repo_hook_life_cycle_with_signed_test_delivery(server: Any, factory: Any, receiver: HookReceiver) -> None:
    base, token, owner = admin_repo(server, factory)
    body = {"type": "gitea", "config": {"url": receiver.url("/in"), "content_type": "json", "secret": "xyzzy"},
            "events": ["push", "issues"], "branch_filter": "main", "active": True}
    created = httpx.post(base, json=body, headers=auth(token))
    assert created.status_code == 201, created.text
    hook = created.json()
    assert created.headers["Location"] == hook["url"] == f"{base}/{hook['id']}"
    assert hook["type"] == "Repository" and hook["events"] == ["push", "issues"]
    assert hook["config"] == {"url": receiver.url("/in"), "content_type": "json", "secret": "********"}
    assert hook["branch_filter"] == "main" and hook["active"] is True
    assert hook["last_response"]["status"] == "unused"

    listed = httpx.get(base, headers=auth(token))
    assert [h["id"] for h in listed.json()] == [hook["id"]] and listed.headers["X-Total-Count"] == "1"

    tested = httpx.post(f"{hook['url']}/tests", headers=auth(token))
    assert tested.status_code == 204
    hit = receiver.wait_for(1)[0]
    assert hit.headers["X-GitHub-Event"] == "ping"
    expected = hmac.new(b"xyzzy", hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert hit.headers["X-Gitea-Signature"] == expected
    ping = hit.json()
    assert ping["hook_id"] == hook["id"] and ping["hook"]["config"]["url"] == receiver.url("/in")
    assert ping["repository"]["full_name"] == base.split("/repos/")[1].removesuffix("/hooks")
    assert ping["sender"]["login"] == owner and "zen" in ping

    deliveries = wait_deliveries(hook["deliveries_url"], token, 1)
    assert deliveries[0]["event"] == "ping" and deliveries[0]["status"] == "succeeded"
    assert deliveries[0]["status_code"] == 200 and deliveries[0]["test"] is True
    assert deliveries[0]["guid"] == hit.headers["X-GitHub-Delivery"]
    one = httpx.get(f"{hook['deliveries_url']}/{deliveries[0]['id']}", headers=auth(token)).json()
    assert one["request"]["body"].encode() == hit.body and one["request"]["payload"]["hook_id"] == hook["id"]
    assert one["request"]["headers"]["X-GitHub-Event"] == "ping" and one["response"]["body"] == "ok"
    assert httpx.get(hook["url"], headers=auth(token)).json()["last_response"] == {
        "code": 200, "status": "succeeded", "message": "OK"}

    # Redeliver: a new delivery with the same payload, sent right away.
    again = httpx.post(f"{hook['deliveries_url']}/{deliveries[0]['id']}/attempts", headers=auth(token))
    assert again.status_code == 202 and again.json()["redelivery_of"] == deliveries[0]["id"]
    second = receiver.wait_for(2)[1]
    assert second.body == hit.body and second.headers["X-GitHub-Delivery"] == again.json()["guid"]
    assert len(wait_deliveries(hook["deliveries_url"], token, 2)) == 2

    # Change: the secret is kept unless sent; form content type.
    changed = httpx.patch(hook["url"], json={"config": {"content_type": "form"}, "events": ["*"], "active": False},
                          headers=auth(token))
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"]["content_type"] == "form" and changed.json()["config"]["secret"] == "********"
    assert changed.json()["events"] == [] and changed.json()["active"] is False
    # A client that sends back the config it read (with the mask) keeps the secret.
    echoed = httpx.patch(hook["url"], json={"config": changed.json()["config"]}, headers=auth(token))
    assert echoed.status_code == 200, echoed.text
    with session_scope(server.engine) as session:
        stored = session.get(Webhook, hook["id"])
        assert stored is not None and stored.secret == "xyzzy"
    cleared = httpx.patch(hook["url"], json={"config": {"secret": ""}}, headers=auth(token)).json()
    assert "secret" not in cleared["config"] or cleared["config"]["secret"] is None

    deleted = httpx.delete(hook["url"], headers=auth(token))
    assert deleted.status_code == 204
    assert httpx.get(hook["url"], headers=auth(token)).status_code == 404
    assert httpx.get(base, headers=auth(token)).json() == []


def test_form_delivery_through_the_api(server: Any, factory: Any, receiver: HookReceiver) -> None:
    base, token, _ = admin_repo(server, factory)
    hook = httpx.post(base, json={"config": {"url": receiver.url(), "content_type": "form"}},
                      headers=auth(token)).json()
    assert httpx.post(f"{hook['url']}/tests", headers=auth(token)).status_code == 204
    hit = receiver.wait_for(1)[0]
    assert hit.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert hit.json()["hook_id"] == hook["id"] and "X-Hub-Signature-256" not in hit.headers


def test_org_hooks(server: Any, factory: Any, receiver: HookReceiver) -> None:
    owner = factory.user()
    org = factory.org(owner)
    token = factory.token(owner, ["admin:org"])
    base = f"{server.url}/api/v1/orgs/{org.name}/hooks"
    created = httpx.post(base, json={"config": {"url": receiver.url("/org")}, "events": ["repository"]},
                         headers=auth(token))
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["type"] == "Organization" and hook["url"] == f"{base}/{hook['id']}"
    assert httpx.post(f"{hook['url']}/tests", headers=auth(token)).status_code == 204
    ping = receiver.wait_for(1)[0].json()
    assert ping["organization"]["login"] == org.name and "repository" not in ping
    assert wait_deliveries(hook["deliveries_url"], token, 1)[0]["status"] == "succeeded"
    # A repository token cannot manage organisation hooks, nor can a member who is not an owner.
    repo_token = factory.token(owner, ["admin:repo"])
    assert httpx.get(base, headers=auth(repo_token)).status_code == 403
    stranger = factory.user()
    refused = httpx.get(base, headers=auth(factory.token(stranger, ["admin:org"])))
    assert refused.status_code == 403 and refused.json()["message"]
    assert httpx.get(f"{server.url}/api/v1/orgs/no-such-org-x/hooks", headers=auth(token)).status_code == 404
    assert httpx.delete(hook["url"], headers=auth(token)).status_code == 204


@pytest.mark.parametrize(("url", "message"), [
    ("http://10.0.0.1/hook", "private or loopback address"),
    ("http://169.254.169.254/latest/meta-data", "private or loopback address"),
    ("http://[::ffff:192.168.1.1]/", "private or loopback address"),
    ("ftp://example.org/hook", "http:// or https://"),
    ("http:///nohost", "no host name"),
    ("http://example.org:99999/", "not a valid URL"),
])
def test_bad_urls_are_refused(server: Any, factory: Any, url: str, message: str) -> None:
    base, token, _ = admin_repo(server, factory)
    refused = httpx.post(base, json={"config": {"url": url}}, headers=auth(token))
    assert refused.status_code == 422 and message in refused.json()["message"]
    assert httpx.get(base, headers=auth(token)).json() == []


def test_loopback_is_refused_when_not_allowed(server: Any, factory: Any) -> None:
    from tests.conftest import start_live_server

    strict = start_live_server(server.settings.home, webhook_allowed_hosts="external")
    try:
        owner = factory.user()
        ref = factory.repo(owner)
        token = factory.token(owner, ["admin:repo"])
        base = f"{strict.url}/api/v1/repos/{ref.full_name}/hooks"
        for url in ("http://[::1]:8080/", "http://127.0.0.1/"):
            refused = httpx.post(base, json={"config": {"url": url}}, headers=auth(token))
            assert refused.status_code == 422
            assert refused.json()["message"] == ("This URL points to a private or loopback address; the "
                                                 "administrator has not allowed webhooks there.")
    finally:
        strict.stop()


def test_validation_errors(server: Any, factory: Any) -> None:
    base, token, _ = admin_repo(server, factory)
    good = {"url": "http://127.0.0.1:9/x"}
    for body in ({"config": {**good, "content_type": "xml"}}, {"config": good, "events": ["nope"]},
                 {"config": {**good, "secret": "s" * 256}}, {"config": {"url": "h" * 2049}}, {},
                 {"config": good, "branch_filter": "a b"}):
        answer = httpx.post(base, json=body, headers=auth(token))
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["message"]
    assert httpx.get(f"{base}/999999", headers=auth(token)).status_code == 404
    assert httpx.get(f"{base}/0", headers=auth(token)).status_code == 422


def test_permissions(server: Any, factory: Any) -> None:
    base, token, owner = admin_repo(server, factory)
    hook = httpx.post(base, json={"config": {"url": "http://127.0.0.1:9/x"}}, headers=auth(token)).json()
    assert httpx.get(base).status_code == 401
    # A token without admin:repo is refused even for the repository's owner.
    owner_account = factory.user()
    ref = factory.repo(owner_account)
    write_token = factory.token(owner_account, ["write:repo"])
    refused = httpx.get(f"{server.url}/api/v1/repos/{ref.full_name}/hooks", headers=auth(write_token))
    assert refused.status_code == 403
    # Another user: the public repository is visible but not theirs (403); a private one is hidden (404).
    other = factory.token(factory.user(), ["admin:repo"])
    assert httpx.get(base, headers=auth(other)).status_code == 403
    assert httpx.get(hook["url"], headers=auth(other)).status_code == 403
    secret_ref = factory.repo(owner_account, private=True)
    assert httpx.get(f"{server.url}/api/v1/repos/{secret_ref.full_name}/hooks",
                     headers=auth(other)).status_code == 404
    # A hook id of another repository is not found through this one.
    base2, token2, _ = admin_repo(server, factory)
    assert httpx.get(f"{base2}/{hook['id']}", headers=auth(token2)).status_code == 404
