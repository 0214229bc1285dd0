"""Webhook tables: the hooks, their deliveries (queue and log in one row each), and the outbox claims.

A delivery row is written in the same transaction as the event that caused it (or by the outbox consumer that
turns activity and push events into deliveries), so nothing is lost if the receiver or the forge is down; the
sender (forge.webhooks.delivery) claims due rows, posts them and records request, response and duration on the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from forge.db.models_base import utcnow

CONTENT_JSON = "json"  # application/json body
CONTENT_FORM = "form"  # application/x-www-form-urlencoded with the JSON in a "payload" field (GitHub's form)
CONTENT_TYPES = (CONTENT_JSON, CONTENT_FORM)

# Delivery states.
PENDING = "pending"  # waiting for its first or next attempt (next_attempt_at)
SUCCEEDED = "succeeded"  # the receiver answered 2xx
FAILED = "failed"  # gave up after the last attempt


class Webhook(SQLModel, table=True):
    """One hook. Exactly one of ``repo_id`` (a repository's hook) and ``org_id`` (an organisation's hook, which
    hears about every repository the organisation owns) is set."""

    __tablename__ = "webhook"

    id: int | None = Field(default=None, primary_key=True)
    repo_id: int | None = Field(default=None, foreign_key="repository.id", index=True, ondelete="CASCADE")
    org_id: int | None = Field(default=None, foreign_key="account.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=2048)
    content_type: str = Field(default=CONTENT_JSON, max_length=8)
    # Used to sign each body (HMAC-SHA256); shown to admins of the hook only, never in API responses.
    secret: str = Field(default="", max_length=255)
    # Subscription names (keys of forge.webhooks.events.SUBSCRIPTIONS); empty means every event.
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Optional glob on branch names for push events ("main", "release/*"); empty means every branch.
    branch_filter: str = Field(default="", max_length=255)
    active: bool = True
    created_by_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One payload for one hook: queued, then attempted until the receiver accepts it or attempts run out.

    The row keeps the last attempt's request and response for the delivery log; a redelivery is a new row
    (``redelivery_of_id``) with the same payload, as on GitHub."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhook.id", index=True, ondelete="CASCADE")
    guid: str = Field(max_length=36, unique=True)  # X-Forge-Delivery / X-GitHub-Delivery / X-Gitea-Delivery
    event: str = Field(max_length=40)
    action: str = Field(default="", max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    is_test: bool = False
    redelivery_of_id: int | None = Field(default=None, foreign_key="webhook_delivery.id", ondelete="SET NULL")
    status: str = Field(default=PENDING, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, index=True)
    claimed_until: datetime | None = None  # a sender is posting it; others skip it until then
    # The last attempt.
    request_url: str = Field(default="", max_length=2048)
    request_headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    request_body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    response_status: int | None = None
    response_headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response_body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    error: str = Field(default="", max_length=1024)
    duration_ms: int | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    delivered_at: datetime | None = None


class WebhookActivitySeen(SQLModel, table=True):
    """The webhook fan-out's claim on an ``activity`` row (issues, comments, pull requests, reviews)."""

    __tablename__ = "webhook_activity_seen"

    activity_id: int = Field(foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class WebhookPushSeen(SQLModel, table=True):
    """The webhook fan-out's claim on a ``push_event`` row (push and tag events)."""

    __tablename__ = "webhook_push_seen"

    push_event_id: int = Field(foreign_key="push_event.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
