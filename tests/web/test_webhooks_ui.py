"""The webhook settings pages of repositories and organisations, used the way people use them (real forms with
their CSRF tokens) against a real receiver: add, test delivery, the delivery log and its page, redeliver, edit
with the write-only secret, delete, errors, and who may see the pages."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from forge.db.engine import session_scope
from forge.webhooks.models import PENDING, Webhook, WebhookDelivery
from tests.factories import PASSWORD
from tests.hookreceiver import HookReceiver


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as r:
        yield r


def _form(url: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"url": url, "content_type": "json", "secret": "", "events_mode": "all",
                            "branch_filter": "", "active": "on", **fields}
    return {k: v for k, v in data.items() if v is not None}


def _hook_id(location: str) -> int:
    match = re.search(r"/hooks/(\d+)$", location)
    assert match, location
    return int(match.group(1))


def _settled(server: Any, hook_id: int, count: int) -> list[WebhookDelivery]:
    deadline = time.monotonic() + 10
    while True:
        with session_scope(server.engine) as s:
            rows = list(s.exec(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)
                               .order_by(col(WebhookDelivery.id))))
        if len(rows) >= count and all(r.status != PENDING for r in rows):
            return rows
        assert time.monotonic() < deadline, [(r.status, r.error) for r in rows]
        time.sleep(0.1)


def test_repo_admin_adds_tests_inspects_redelivers_edits_and_deletes(server: Any, factory: Any, web: Any,
                                                                     receiver: HookReceiver) -> None:
    owner = factory.user()
    ref = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}/settings/hooks"
    settings_page = web.get(f"/{ref.full_name}/settings")
    assert f'href="{base}"' in settings_page.text  # linked from the settings navigation
    assert "No webhooks yet." in web.get(base).text

    created = web.submit(f"{base}/new", f"{base}/new",
                         _form(receiver.url("/ui"), secret="ui-secret", events_mode="choose",
                               events=["push", "issues"], branch_filter="main"))
    assert created.status_code == 303, created.text[:500]
    hook_id = _hook_id(created.headers["location"])
    page = web.follow(created)
    assert "The webhook was added." in page.text
    assert 'value="push" checked' in page.text and 'value="issues" checked' in page.text
    assert "ui-secret" not in page.text and "A secret is set." in page.text
    listing = web.get(base).text
    assert receiver.url("/ui") in listing and f'id="hook-{hook_id}"' in listing

    tested = web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}/test", {})
    assert tested.status_code == 303
    hit = receiver.wait_for(1)[0]
    assert hit.headers["X-GitHub-Event"] == "ping"
    assert hit.headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(b"ui-secret", hit.body,
                                                                     hashlib.sha256).hexdigest()
    delivery = _settled(server, hook_id, 1)[0]
    page = web.get(f"{base}/{hook_id}").text
    assert delivery.guid in page and "ping" in page and "ci-success" in page
    assert "ci-success" in web.get(base).text  # the list shows the last delivery's status

    shown = web.get(f"{base}/{hook_id}/deliveries/{delivery.id}")
    assert shown.status_code == 200
    assert "X-GitHub-Event: ping" in shown.text and "User-Agent: Forge-Hookshot/" in shown.text
    assert "&#34;zen&#34;" in shown.text or '"zen"' in shown.text  # the request body
    assert "content-type: text/plain" in shown.text.lower() and ">ok</pre>" in shown.text  # the response

    again = web.submit(f"{base}/{hook_id}/deliveries/{delivery.id}",
                       f"{base}/{hook_id}/deliveries/{delivery.id}/redeliver", {})
    assert again.status_code == 303
    assert receiver.wait_for(2)[1].body == hit.body
    rows = _settled(server, hook_id, 2)
    assert rows[1].redelivery_of_id == delivery.id and "redelivery" in web.get(f"{base}/{hook_id}").text

    # Editing with an empty secret keeps it; "remove" clears it; everything unticked is refused.
    edited = web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}", _form(receiver.url("/ui2"), content_type="form"))
    assert edited.status_code == 303
    with session_scope(server.engine) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None
        assert (hook.url, hook.content_type, hook.secret, hook.events) == (receiver.url("/ui2"), "form",
                                                                           "ui-secret", [])
        assert hook.active is True
    refused = web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}",
                         _form(receiver.url("/ui2"), events_mode="choose"))
    assert refused.status_code == 422 and "Choose at least one event" in refused.text
    cleared = web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}",
                         _form(receiver.url("/ui2"), clear_secret="on", active=None))
    assert cleared.status_code == 303
    with session_scope(server.engine) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None and hook.secret == "" and hook.active is False

    unconfirmed = web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}/delete", {})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    deleted = web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}/delete", {"confirm": "on"})
    assert deleted.status_code == 303 and deleted.headers["location"] == base
    assert "The webhook was deleted." in web.follow(deleted).text
    assert web.get(f"{base}/{hook_id}").status_code == 404
    assert web.get(f"{base}/999999999999").status_code == 404


def test_form_errors_keep_what_was_typed(server: Any, factory: Any, web: Any) -> None:
    owner = factory.user()
    ref = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}/settings/hooks"
    refused = web.submit(f"{base}/new", f"{base}/new", _form("http://169.254.169.254/latest", branch_filter="rel/*"))
    assert refused.status_code == 422
    assert "private or loopback address" in refused.text
    assert 'value="http://169.254.169.254/latest"' in refused.text and 'value="rel/*"' in refused.text
    bad = web.submit(f"{base}/new", f"{base}/new", _form("gopher://example.org/"))
    assert bad.status_code == 422 and "http:// or https://" in bad.text


def test_org_owner_manages_org_hooks(server: Any, factory: Any, web: Any, receiver: HookReceiver) -> None:
    owner = factory.user()
    org = factory.org(owner)
    web.login(owner.name, PASSWORD)
    base = f"/org/{org.name}/settings/hooks"
    assert f'href="{base}"' in web.get(f"/org/{org.name}/settings").text
    created = web.submit(f"{base}/new", f"{base}/new", _form(receiver.url("/org")))
    assert created.status_code == 303
    hook_id = _hook_id(created.headers["location"])
    web.submit(f"{base}/{hook_id}", f"{base}/{hook_id}/test", {})
    ping = receiver.wait_for(1)[0].json()
    assert ping["organization"]["login"] == org.name and ping["hook"]["type"] == "Organization"
    delivery = _settled(server, hook_id, 1)[0]
    assert web.get(f"{base}/{hook_id}/deliveries/{delivery.id}").status_code == 200


def test_who_may_see_the_pages(server: Any, factory: Any, web: Any) -> None:
    owner = factory.user()
    public = factory.repo(owner)
    private = factory.repo(owner, private=True)
    org = factory.org(owner)
    stranger = factory.user()
    web.login(stranger.name, PASSWORD)
    assert web.get(f"/{public.full_name}/settings/hooks").status_code == 403
    assert web.get(f"/{private.full_name}/settings/hooks").status_code == 404
    assert web.get(f"/org/{org.name}/settings/hooks").status_code == 403
    posted = web.post(f"/{public.full_name}/settings/hooks/new", _form("http://127.0.0.1:9/"))
    assert posted.status_code == 403
    with session_scope(server.engine) as s:
        assert s.exec(select(Webhook).where(Webhook.repo_id == public.repo.id)).all() == []
