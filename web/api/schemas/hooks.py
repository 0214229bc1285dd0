"""Request bodies and answers for webhooks and their deliveries.

The body follows Gitea's (and mostly GitHub's) shape, ``{type?, config: {url, content_type, secret}, events,
branch_filter, active}``, so existing scripts work. The secret is write-only: answers show ``********`` when one
is set. Lengths and choices mirror forge.webhooks.hooks so a bad field is a 422 from validation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from forge.webhooks.hooks import FILTER_MAX, SECRET_MAX, URL_MAX

HookIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The hook's id.")]
DeliveryIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The delivery's id.")]

# Subscription names (forge.webhooks.events.SUBSCRIPTIONS); "*" (GitHub's spelling) means every event.
EventName = Literal["push", "tag", "issues", "issue_comment", "pull_request", "pull_request_review", "pipeline",
                    "job", "release", "repository", "*"]
ContentType = Literal["json", "form"]
MASK = "********"


class HookConfig(BaseModel):
    url: str = Field(min_length=1, max_length=URL_MAX, description="Where to POST: http:// or https://.")
    content_type: ContentType = Field(default="json", description="json, or form (a payload=<json> form field).")
    secret: str = Field(default="", max_length=SECRET_MAX,
                        description="Signs each body (HMAC-SHA256 in X-Hub-Signature-256); never shown again.")


class HookConfigUpdate(BaseModel):
    url: str | None = Field(default=None, min_length=1, max_length=URL_MAX)
    content_type: ContentType | None = None
    secret: str | None = Field(default=None, max_length=SECRET_MAX, description="Omit to keep the secret.")


class HookCreate(BaseModel):
    type: Literal["forge", "gitea", "gogs", "github"] | None = Field(
        default=None, description="Accepted for compatibility and ignored: every hook sends every header set.")
    config: HookConfig
    events: list[EventName] = Field(default_factory=list, max_length=20,
                                    description="What to send; empty or [\"*\"] means every event.")
    branch_filter: str = Field(default="", max_length=FILTER_MAX,
                               description="Glob of branch names for push, create and delete events.")
    active: bool = True


class HookUpdate(BaseModel):
    """Only the fields sent change."""

    config: HookConfigUpdate | None = None
    events: list[EventName] | None = Field(default=None, max_length=20)
    branch_filter: str | None = Field(default=None, max_length=FILTER_MAX)
    active: bool | None = None


class HookConfigOut(BaseModel):
    url: str
    content_type: ContentType
    secret: str | None = Field(default=None, description="“********” when a secret is set; absent otherwise.")


class LastResponse(BaseModel):
    code: int | None = Field(description="HTTP status of the newest delivery's last attempt.")
    status: Literal["pending", "succeeded", "failed", "unused"]
    message: str


class HookOut(BaseModel):
    id: int
    type: Literal["Repository", "Organization"]
    name: Literal["web"] = "web"
    active: bool
    events: list[str] = Field(description="Subscriptions; empty means every event.")
    config: HookConfigOut
    branch_filter: str
    created_at: datetime
    updated_at: datetime
    url: str = Field(description="This hook's API URL.")
    test_url: str
    deliveries_url: str
    last_response: LastResponse


class DeliveryBrief(BaseModel):
    id: int
    guid: str = Field(description="Sent as X-GitHub-Delivery, X-Gitea-Delivery and X-Forge-Delivery.")
    event: str
    action: str
    status: Literal["pending", "succeeded", "failed"]
    status_code: int | None = Field(description="The receiver's HTTP status on the last attempt.")
    attempts: int
    redelivery: bool
    redelivery_of: int | None
    test: bool
    duration_ms: int | None
    error: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None


class DeliveryRequest(BaseModel):
    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    body: str = Field(description="The exact body sent (what the signature covers).")


class DeliveryResponse(BaseModel):
    headers: dict[str, str]
    body: str = Field(description="The first 64 KiB of the receiver's answer.")


class DeliveryOut(DeliveryBrief):
    request: DeliveryRequest
    response: DeliveryResponse
