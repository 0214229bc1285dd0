"""The webhook sender: claims due deliveries, posts them, records the exchange, retries with back-off.

``deliver_due`` runs every two seconds in every worker and right after a commit that queued deliveries (the kick).
Each row is claimed on its own with a conditional UPDATE of ``claimed_until`` just before it is sent (as
``forge.mail.outbox`` does), so two workers never post the same row at the same time and a worker that dies only
delays its one row by the lease.

Before each attempt the URL's host is checked again against ``webhook_allowed_hosts`` and the request goes to
the address that was checked (``forge.webhooks.ssrf``). A refused address fails the delivery for good; any other
failure (no answer, a non-2xx answer) is retried after 15 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, then daily,
until ``webhook_max_attempts``. The periodic run also trims each hook's log to its newest deliveries.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import httpx
from sqlalchemy import ColumnElement, delete, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from forge import __version__
from forge.background import periodic
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.kicker import KickAfterCommit, Kicker
from forge.settings import Settings
from forge.webhooks import ssrf
from forge.webhooks.models import CONTENT_FORM, FAILED, PENDING, SUCCEEDED, Webhook, WebhookDelivery
from forge.webhooks.signing import signature_headers

log = logging.getLogger("forge.webhooks")

BATCH = 50  # deliveries per run (each claimed just before it is sent)
LEASE = timedelta(minutes=5)  # longer than any request may take (webhook_timeout is at most 120 s)
BACKOFF = tuple(timedelta(seconds=s) for s in (15, 60, 300, 1800, 7200, 21600, 43200, 86400))
KEEP_PER_HOOK = 100  # deliveries kept in each hook's log
PRUNE_EVERY = 60.0  # seconds between retention sweeps in one process
RESPONSE_LIMIT = 64 * 1024  # bytes of the response body kept
USER_AGENT = f"Forge-Hookshot/{__version__}"
INACTIVE = "hook inactive"


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def encode_body(content_type: str, payload: dict[str, object]) -> tuple[bytes, str]:
    """The exact body bytes (what is signed) and their media type."""
    document = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if content_type == CONTENT_FORM:
        return urlencode({"payload": document}).encode("ascii"), "application/x-www-form-urlencoded"
    return document.encode("utf-8"), "application/json"


def request_headers(hook: Webhook, delivery: WebhookDelivery, body: bytes, media_type: str) -> dict[str, str]:
    """The headers GitHub, Gitea and Gogs receivers expect, plus the forge's own names."""
    headers = {
        "Content-Type": media_type,
        "User-Agent": USER_AGENT,
        "X-Forge-Event": delivery.event,
        "X-GitHub-Event": delivery.event,
        "X-Gitea-Event": delivery.event,
        "X-Gogs-Event": delivery.event,
        "X-Forge-Delivery": delivery.guid,
        "X-GitHub-Delivery": delivery.guid,
        "X-Gitea-Delivery": delivery.guid,
        "X-Forge-Hook-ID": str(hook.id),
        "X-GitHub-Hook-ID": str(hook.id),
    }
    headers.update(signature_headers(hook.secret, body))
    return headers


# --- one attempt ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one attempt saw; ``final`` failures are not retried."""

    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    error: str = ""
    duration_ms: int | None = None
    final: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, object]]:
    """The URL to connect to the checked ``address``, with the Host header and TLS server name of the original."""
    if address is None:
        return url, {}, {}
    parts = httpx.URL(url)
    # The Host header a client would have sent for the original URL (user info dropped).
    host_header = urlsplit(url).netloc.rpartition("@")[2]
    extensions: dict[str, object] = {"sni_hostname": parts.host} if parts.scheme == "https" else {}
    return str(parts.copy_with(host=address)), {"Host": host_header}, extensions


def attempt(settings: Settings, hook: Webhook, delivery: WebhookDelivery) -> Outcome:
    """Post ``delivery`` to ``hook`` once and describe what happened (never raises for receiver trouble)."""
    body, media_type = encode_body(hook.content_type, delivery.payload)
    headers = request_headers(hook, delivery, body, media_type)
    outcome = Outcome(url=hook.url, headers=headers, body=body.decode("utf-8"))
    try:
        address = ssrf.check_url(hook.url, settings.webhook_allowed_hosts)
    except ssrf.RefusedAddress as exc:
        outcome.error, outcome.final = str(exc), True
        return outcome
    except ssrf.UnresolvedHost as exc:
        outcome.error = str(exc)
        return outcome
    target, extra_headers, extensions = _pinned(hook.url, address)
    started = time.monotonic()
    try:
        with httpx.Client(timeout=settings.webhook_timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request("POST", target, content=body, headers={**headers, **extra_headers},
                                           extensions=extensions)
            response = client.send(request, stream=True)
            try:
                outcome.status = response.status_code
                outcome.response_headers = {k: ", ".join(response.headers.get_list(k)) for k in response.headers}
                kept = bytearray()
                for chunk in response.iter_bytes():
                    kept.extend(chunk)
                    if len(kept) >= RESPONSE_LIMIT:
                        break
                outcome.response_body = bytes(kept[:RESPONSE_LIMIT]).decode("utf-8", "replace")
            finally:
                response.close()
        if not outcome.ok:
            outcome.error = f"HTTP {outcome.status}"
    except httpx.TimeoutException:
        outcome.error = f"timed out after {settings.webhook_timeout:g} s"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


# --- claiming and recording ---------------------------------------------------------------------------------------


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(WebhookDelivery.status) == PENDING,
        col(WebhookDelivery.next_attempt_at) <= now,
        or_(col(WebhookDelivery.claimed_until).is_(None), col(WebhookDelivery.claimed_until) < now),
    ]


def _claim_next(engine: Engine, now: datetime) -> tuple[Webhook, WebhookDelivery] | None:
    """Claim the oldest due delivery (a conditional UPDATE: of two workers racing for a row one gets it)."""
    with session_scope(engine) as session:
        candidates = [i for i in session.exec(
            select(WebhookDelivery.id).where(*_due(now))
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)).limit(5)
        ) if i is not None]
    for delivery_id in candidates:
        with session_scope(engine) as session:
            result = session.exec(  # type: ignore[call-overload]
                update(WebhookDelivery).where(col(WebhookDelivery.id) == delivery_id, *_due(now))
                .values(claimed_until=now + LEASE)
            )
            if result.rowcount != 1:
                continue
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id) if delivery is not None else None
            if delivery is not None and hook is not None:
                return hook, delivery
    return None


def _record(engine: Engine, settings: Settings, delivery_id: int, outcome: Outcome, now: datetime) -> None:
    with session_scope(engine) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:  # the hook was deleted meanwhile
            return
        row.attempts += 1
        row.claimed_until = None
        row.request_url = outcome.url[:2048]
        row.request_headers = outcome.headers
        row.request_body = outcome.body
        row.response_status = outcome.status
        row.response_headers = outcome.response_headers
        row.response_body = outcome.response_body
        row.error = outcome.error[:1024]
        row.duration_ms = outcome.duration_ms
        row.delivered_at = now
        if outcome.ok:
            row.status, row.next_attempt_at = SUCCEEDED, None
        elif outcome.final or row.attempts >= settings.webhook_max_attempts:
            row.status, row.next_attempt_at = FAILED, None
        else:
            row.next_attempt_at = now + retry_delay(row.attempts)
        session.add(row)


def _fail_inactive(engine: Engine, delivery_id: int, now: datetime) -> None:
    with session_scope(engine) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is not None:
            row.status, row.error, row.claimed_until, row.next_attempt_at = FAILED, INACTIVE, None, None
            row.delivered_at = now
            session.add(row)


def deliver_one(engine: Engine, settings: Settings, now: datetime | None = None) -> bool:
    """Claim and attempt one due delivery; False when none was due."""
    now = now or utcnow()
    claimed = _claim_next(engine, now)
    if claimed is None:
        return False
    hook, delivery = claimed
    assert delivery.id is not None
    if not hook.active:
        _fail_inactive(engine, delivery.id, now)
        return True
    outcome = attempt(settings, hook, delivery)
    if not outcome.ok:
        log.info("webhook delivery %s to %s failed: %s", delivery.guid, hook.url, outcome.error)
    _record(engine, settings, delivery.id, outcome, now)
    return True


# --- retention ----------------------------------------------------------------------------------------------------

_last_prune: dict[int, float] = {}


def prune(engine: Engine, keep: int = KEEP_PER_HOOK, *, hook_ids: list[int] | None = None) -> int:
    """Delete finished deliveries beyond each hook's newest ``keep`` (of every hook, or of ``hook_ids``);
    returns how many went."""
    removed = 0
    with session_scope(engine) as session:
        stmt = select(WebhookDelivery.webhook_id)
        if hook_ids is not None:
            stmt = stmt.where(col(WebhookDelivery.webhook_id).in_(hook_ids))
        crowded = list(session.exec(
            stmt.group_by(col(WebhookDelivery.webhook_id)).having(func.count() > keep)
        ))
        for hook_id in crowded:
            newest = select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == hook_id) \
                .order_by(col(WebhookDelivery.id).desc()).limit(keep)
            cutoff = min(i for i in session.exec(newest) if i is not None)
            result = session.exec(  # type: ignore[call-overload]
                delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == hook_id,
                                              col(WebhookDelivery.id) < cutoff,
                                              col(WebhookDelivery.status) != PENDING)
            )
            removed += result.rowcount or 0
    return removed


# --- the periodic run and the kick --------------------------------------------------------------------------------


@periodic(2)
def deliver_due(engine: Engine, settings: Settings, now: datetime | None = None, limit: int = BATCH) -> None:
    """Send the deliveries whose attempt is due (at most ``limit`` per run).

    ``now`` lets tests move the clock forward to make retries due."""
    install(engine, settings)  # so commits in this process kick the sender (also done at start-up)
    sent = 0
    while sent < limit and deliver_one(engine, settings, now):
        sent += 1
    if time.monotonic() - _last_prune.get(id(engine), 0.0) >= PRUNE_EVERY:
        _last_prune[id(engine)] = time.monotonic()
        prune(engine)


def _deliver_all_due(engine: Engine, settings: Settings) -> None:
    while deliver_one(engine, settings):
        pass


# Send due deliveries now on a background thread (kicks during a run make it run once more), after every commit
# that queued deliveries (``queue.enqueue``).
_kicker = Kicker("forge-webhook-kick", _deliver_all_due, log)
_after_commit = KickAfterCommit(_kicker, (WebhookDelivery,))
kick = _kicker.kick


def install(engine: Engine, settings: Settings) -> None:
    """Kick the sender after every commit on ``engine`` that queued deliveries."""
    _after_commit.install(engine, settings)


def uninstall(engine: Engine) -> None:
    _after_commit.uninstall(engine)
