"""Webhook delivery against a real receiver on loopback: headers and signatures, content types, retries with
back-off (the clock moved with ``deliver_due(now=...)``), giving up, the SSRF check before each attempt, inactive
hooks, redelivery, the kick after commit, claims, choosing hooks, retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.repos.models import Repository
from forge.settings import Settings
from forge.webhooks import deliveries, delivery, hooks, queue
from forge.webhooks.models import FAILED, PENDING, SUCCEEDED, Webhook, WebhookDelivery
from forge.webhooks.signing import signature
from tests.hookreceiver import HookReceiver

LATER = timedelta(days=3)  # held deliveries wait this long, so only the test's own deliver_due call sends them


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as r:
        yield r


def make_hook(server: Any, factory: Any, url: str, *, org: bool = False, **fields: Any) -> int:
    owner = factory.user()
    if org:
        target_org = factory.org(owner)
        with session_scope(server.engine) as s:
            target = hooks.org_target(s, owner, target_org.name)
            hook = hooks.create_hook(s, server.settings, owner, target, url=url, **fields)
            assert hook.id is not None
            return hook.id
    ref = factory.repo(owner)
    with session_scope(server.engine) as s:
        target = hooks.repo_target(s, owner, owner.name, ref.repo.name)
        hook = hooks.create_hook(s, server.settings, owner, target, url=url, **fields)
        assert hook.id is not None
        return hook.id


def queue_delivery(server: Any, hook_id: int, payload: dict[str, Any] | None = None, *, event: str = "push",
                   hold: bool = True) -> int:
    """Queue a delivery; ``hold`` puts its first attempt in the future so neither the kick nor the server's
    periodic run sends it, and the test drives ``deliver_due`` itself."""
    with session_scope(server.engine) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None
        row = queue.enqueue(s, [hook], event, payload or {"ref": "refs/heads/main", "text": "héllo"},
                            action="opened")[0]
        if hold:
            row.next_attempt_at = utcnow() + LATER
            s.add(row)
        assert row.id is not None
        return row.id


def run(server: Any, at: timedelta = LATER + timedelta(minutes=1), settings: Settings | None = None) -> None:
    delivery.deliver_due(server.engine, settings or server.settings, now=utcnow() + at)


def row(server: Any, delivery_id: int) -> WebhookDelivery:
    with session_scope(server.engine) as s:
        found = s.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found


def wait_row(server: Any, delivery_id: int, attempts: int, timeout: float = 10) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while (found := row(server, delivery_id)).attempts < attempts:
        assert time.monotonic() < deadline, f"delivery {delivery_id} has {found.attempts} attempts"
        time.sleep(0.05)
    return found


def test_json_delivery_headers_signature_and_log(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url("/json"), secret="s3cret")
    delivery_id = queue_delivery(server, hook_id)
    run(server)
    hit = receiver.wait_for(1)[0]
    assert hit.method == "POST" and hit.path == "/json"
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["User-Agent"].startswith("Forge-Hookshot/")
    for name in ("X-Forge-Event", "X-GitHub-Event", "X-Gitea-Event", "X-Gogs-Event"):
        assert hit.headers[name] == "push"
    done = row(server, delivery_id)
    for name in ("X-Forge-Delivery", "X-GitHub-Delivery", "X-Gitea-Delivery"):
        assert hit.headers[name] == done.guid
    assert hit.headers["X-GitHub-Hook-ID"] == hit.headers["X-Forge-Hook-ID"] == str(hook_id)
    expected = signature("s3cret", hit.body)
    assert hit.headers["X-Hub-Signature-256"] == hit.headers["X-Forge-Signature-256"] == f"sha256={expected}"
    assert hit.headers["X-Gitea-Signature"] == hit.headers["X-Gogs-Signature"] == expected
    assert hit.json() == {"ref": "refs/heads/main", "text": "héllo"}
    assert hit.headers["Host"] == f"127.0.0.1:{receiver.port}"
    # The log keeps what was sent and what came back.
    assert done.status == SUCCEEDED and done.attempts == 1 and done.response_status == 200
    assert done.request_body.encode() == hit.body
    assert done.request_headers["X-GitHub-Event"] == "push"
    assert done.response_body == "ok" and done.response_headers["content-type"] == "text/plain"
    assert done.duration_ms is not None and done.delivered_at is not None and done.error == ""


def test_form_content_type_without_secret(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url(), content_type="form")
    queue_delivery(server, hook_id, {"a": [1, 2]})
    run(server)
    hit = receiver.wait_for(1)[0]
    assert hit.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert list(hit.form()) == ["payload"] and hit.json() == {"a": [1, 2]}
    assert "X-Hub-Signature-256" not in hit.headers and "X-Gitea-Signature" not in hit.headers


def test_failures_are_retried_with_back_off_then_succeed(server: Any, factory: Any, receiver: HookReceiver) -> None:
    receiver.respond(500, body=b"boom")
    hook_id = make_hook(server, factory, receiver.url())
    delivery_id = queue_delivery(server, hook_id)
    run(server)
    first = row(server, delivery_id)
    assert first.status == PENDING and first.attempts == 1 and first.response_status == 500
    assert first.error == "HTTP 500" and first.response_body == "boom"
    assert first.next_attempt_at is not None
    # Not due yet: 15 s after the failed attempt.
    run(server, LATER + timedelta(minutes=1, seconds=10))
    assert row(server, delivery_id).attempts == 1
    run(server, LATER + timedelta(minutes=1, seconds=16))
    second = row(server, delivery_id)
    assert second.status == SUCCEEDED and second.attempts == 2 and second.error == ""
    hits = receiver.wait_for(2)
    assert [h.status for h in hits] == [500, 200]
    assert hits[0].headers["X-GitHub-Delivery"] == hits[1].headers["X-GitHub-Delivery"]


def test_gives_up_after_max_attempts(server: Any, factory: Any, receiver: HookReceiver) -> None:
    receiver.respond(503, 503, 503)
    settings = server.settings.model_copy(update={"webhook_max_attempts": 3})
    hook_id = make_hook(server, factory, receiver.url())
    delivery_id = queue_delivery(server, hook_id)
    at = LATER + timedelta(minutes=1)
    for expected in (1, 2, 3):
        run(server, at, settings)
        assert row(server, delivery_id).attempts == expected
        at += delivery.retry_delay(expected) + timedelta(seconds=1)
    final = row(server, delivery_id)
    assert final.status == FAILED and final.next_attempt_at is None
    run(server, at + timedelta(days=1), settings)
    assert row(server, delivery_id).attempts == 3 and len(receiver.requests) == 3


def test_back_off_grows() -> None:
    delays = [delivery.retry_delay(n) for n in range(1, 12)]
    assert delays[:3] == [timedelta(seconds=15), timedelta(minutes=1), timedelta(minutes=5)]
    assert delays == sorted(delays) and delays[-1] == timedelta(days=1)


def test_unreachable_receiver_is_a_retryable_error(server: Any, factory: Any) -> None:
    with HookReceiver() as gone:
        url = gone.url()
    hook_id = make_hook(server, factory, url)
    delivery_id = queue_delivery(server, hook_id)
    run(server)
    failed = row(server, delivery_id)
    assert failed.status == PENDING and failed.attempts == 1 and failed.response_status is None
    assert "Connect" in failed.error


def test_timeout_is_recorded(server: Any, factory: Any, receiver: HookReceiver) -> None:
    receiver.respond(200, delay=1.5)
    settings = server.settings.model_copy(update={"webhook_timeout": 0.5})
    hook_id = make_hook(server, factory, receiver.url())
    delivery_id = queue_delivery(server, hook_id)
    run(server, settings=settings)
    timed_out = row(server, delivery_id)
    assert timed_out.status == PENDING and "timed out" in timed_out.error


def test_refused_address_fails_without_retry(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url())  # allowed when saved (the server allows loopback)
    delivery_id = queue_delivery(server, hook_id)
    strict = server.settings.model_copy(update={"webhook_allowed_hosts": "external"})
    run(server, settings=strict)
    refused = row(server, delivery_id)
    assert refused.status == FAILED and refused.attempts == 1
    assert "private or loopback address" in refused.error
    assert receiver.requests == []


def test_inactive_hook_gets_nothing(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url(), active=False)
    with session_scope(server.engine) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None and hook.repo_id is not None
        repo = s.get(Repository, hook.repo_id)
        assert repo is not None
        assert queue.hooks_for(s, repo, "push", branch="main") == []
    # A delivery queued before the hook was switched off is not sent either.
    delivery_id = queue_delivery(server, hook_id)
    run(server)
    skipped = row(server, delivery_id)
    assert skipped.status == FAILED and skipped.error == delivery.INACTIVE
    assert receiver.requests == []


def test_kick_after_commit_sends_right_away(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url())
    delivery_id = queue_delivery(server, hook_id, hold=False)
    assert receiver.wait_for(1, timeout=5)[0].json()["ref"] == "refs/heads/main"
    assert wait_row(server, delivery_id, 1).status == SUCCEEDED


def test_rolled_back_deliveries_are_never_sent(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url())
    with pytest.raises(RuntimeError), session_scope(server.engine) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None
        queue.enqueue(s, [hook], "push", {"x": 1})
        raise RuntimeError("the event's transaction fails")
    run(server, timedelta(minutes=1))
    with session_scope(server.engine) as s:
        assert s.exec(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)).all() == []
    assert receiver.requests == []


def test_redeliver_and_test_ping(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url(), secret="k", events=["issues"])
    original_id = queue_delivery(server, hook_id, {"action": "opened"}, event="issues")
    run(server)
    with session_scope(server.engine) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None
        original = deliveries.get_delivery(s, hook, original_id)
        again = deliveries.redeliver(s, hook, original)
        again_id = again.id
    assert again_id is not None and again_id != original_id
    hits = receiver.wait_for(2)
    assert hits[0].body == hits[1].body
    assert hits[0].headers["X-GitHub-Delivery"] != hits[1].headers["X-GitHub-Delivery"]
    copy = wait_row(server, again_id, 1)
    assert copy.redelivery_of_id == original_id and copy.event == "issues" and copy.action == "opened"


def test_claims_are_exclusive(server: Any, factory: Any, receiver: HookReceiver) -> None:
    hook_id = make_hook(server, factory, receiver.url())
    delivery_id = queue_delivery(server, hook_id)
    now = utcnow() + LATER + timedelta(minutes=1)
    claimed = delivery._claim_next(server.engine, now)
    assert claimed is not None and claimed[1].id == delivery_id
    # A second worker at the same moment does not get the row while the lease runs ...
    other = delivery._claim_next(server.engine, now)
    assert other is None or other[1].id != delivery_id
    # ... but does once it has expired (the first worker died).
    again = delivery._claim_next(server.engine, now + delivery.LEASE + timedelta(seconds=1))
    assert again is not None and again[1].id == delivery_id


def test_response_body_is_cut_at_64_kib(server: Any, factory: Any, receiver: HookReceiver) -> None:
    receiver.respond(200, body=b"x" * 200_000)
    hook_id = make_hook(server, factory, receiver.url())
    delivery_id = queue_delivery(server, hook_id)
    run(server)
    assert len(row(server, delivery_id).response_body) == delivery.RESPONSE_LIMIT


def test_hooks_for_repo_org_events_and_branches(server: Any, factory: Any) -> None:
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org)
    url = "http://127.0.0.1:9/hook"
    with session_scope(server.engine) as s:
        repo_t = hooks.repo_target(s, owner, org.name, ref.repo.name)
        org_t = hooks.org_target(s, owner, org.name)
        every = hooks.create_hook(s, server.settings, owner, repo_t, url=url)
        pushes = hooks.create_hook(s, server.settings, owner, repo_t, url=url, events=["push"],
                                   branch_filter="release/*")
        of_org = hooks.create_hook(s, server.settings, owner, org_t, url=url, events=["issues", "repository"])
        hooks.create_hook(s, server.settings, owner, repo_t, url=url, active=False)
        ids = lambda found: {h.id for h in found}  # noqa: E731
        assert ids(queue.hooks_for(s, ref.repo, "push", branch="release/1")) == {every.id, pushes.id}
        assert ids(queue.hooks_for(s, ref.repo, "push", branch="main")) == {every.id}
        assert ids(queue.hooks_for(s, ref.repo, "issues")) == {every.id, of_org.id}
        assert ids(queue.hooks_for(s, ref.repo, "ping")) == set()
        assert org.id is not None
        assert ids(queue.hooks_for_org(s, org.id, "repository")) == {of_org.id}
        assert ids(queue.hooks_for_org(s, org.id, "push")) == set()


def test_retention_keeps_the_newest_deliveries(server: Any, factory: Any) -> None:
    hook_id = make_hook(server, factory, "http://127.0.0.1:9/hook")
    with session_scope(server.engine) as s:
        for n in range(8):
            s.add(WebhookDelivery(webhook_id=hook_id, guid=f"retention-{hook_id}-{n}", event="push",
                                  status=SUCCEEDED, next_attempt_at=None))
    delivery.prune(server.engine, keep=5, hook_ids=[hook_id])
    with session_scope(server.engine) as s:
        left = s.exec(select(WebhookDelivery.guid).where(WebhookDelivery.webhook_id == hook_id)).all()
    assert sorted(left) == [f"retention-{hook_id}-{n}" for n in range(3, 8)]
