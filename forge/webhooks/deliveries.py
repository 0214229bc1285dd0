"""A hook's delivery log, redelivering, and the test ("ping") delivery.

Both redelivery and the test delivery queue a new row and kick the sender after the commit, so the person who
pressed the button sees the result in the log a moment later; the original row is left as it was.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from forge.accounts.models import Account
from forge.errors import NotFound
from forge.i18n import N_
from forge.webhooks import events
from forge.webhooks.hooks import HookTarget
from forge.webhooks.models import Webhook, WebhookDelivery
from forge.webhooks.queue import enqueue
from forge.wire.repos import repository
from forge.wire.users import user_brief

# GitHub sends one of its design principles with each ping; receivers ignore it, but some log it.
ZEN = "Keep it logically awesome."


def list_deliveries(session: Session, hook: Webhook, *, offset: int = 0, limit: int = 30) -> list[WebhookDelivery]:
    """Newest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id) \
        .order_by(col(WebhookDelivery.id).desc()).offset(offset).limit(limit)
    return list(session.exec(stmt))


def count_deliveries(session: Session, hook: Webhook) -> int:
    stmt = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
    return int(session.exec(stmt).one())


def get_delivery(session: Session, hook: Webhook, delivery_id: int) -> WebhookDelivery:
    row = session.get(WebhookDelivery, delivery_id) if 0 < delivery_id < 2**31 else None
    if row is None or row.webhook_id != hook.id:
        raise NotFound(N_("Delivery not found."))
    return row


def redeliver(session: Session, hook: Webhook, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue the same event, action and payload again as a new delivery (with a new GUID)."""
    return enqueue(session, [hook], delivery.event, delivery.payload, action=delivery.action,
                   is_test=delivery.is_test, redelivery_of=delivery.id)[0]


def ping_payload(session: Session, target: HookTarget, hook: Webhook, sender: Account, base: str) -> dict[str, Any]:
    """GitHub's ping: the hook's configuration, what it belongs to and who asked."""
    payload: dict[str, Any] = {
        "zen": ZEN,
        "hook_id": hook.id,
        "hook": {
            "id": hook.id,
            "type": "Repository" if target.repo is not None else "Organization",
            "events": hook.events or ["*"],
            "active": hook.active,
            "config": {"url": hook.url, "content_type": hook.content_type},
            "created_at": hook.created_at.isoformat(),
            "updated_at": hook.updated_at.isoformat(),
        },
    }
    if target.repo is not None:
        payload["repository"] = repository(session, target.repo, base).model_dump(mode="json")
    if target.org is not None:
        payload["organization"] = user_brief(target.org, base).model_dump(mode="json")
    payload["sender"] = user_brief(sender, base).model_dump(mode="json")
    return payload


def send_test(session: Session, target: HookTarget, hook: Webhook, sender: Account, base: str) -> WebhookDelivery:
    """Queue a ping to ``hook`` (sent right after the commit, whatever the hook subscribes to)."""
    payload = ping_payload(session, target, hook, sender, base)
    return enqueue(session, [hook], events.PING, payload, is_test=True)[0]
