"""Choosing the hooks an event goes to and queueing one delivery per hook.

Event sources call ``hooks_for`` (or ``hooks_for_org``) and ``enqueue`` inside the transaction that records the
event, so the deliveries commit or roll back with it; nothing is sent from the request. After the commit the
sender is kicked (``forge.webhooks.delivery`` watches for committed delivery rows) so receivers hear within
moments, and its periodic sweep picks up whatever a kick missed.
"""

from __future__ import annotations

import fnmatch
import uuid
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from forge.repos.models import Repository
from forge.webhooks import events
from forge.webhooks.models import Webhook, WebhookDelivery

# Events whose hooks may narrow them to some branches with ``branch_filter``.
BRANCH_EVENTS = frozenset({events.PUSH, events.TAG, events.TAG_DELETE})


def subscribed_events(subscriptions: list[str]) -> frozenset[str]:
    """The event names a hook with these subscriptions receives (empty: everything but the test ping)."""
    keys = subscriptions or list(events.SUBSCRIPTIONS)
    return frozenset(name for key in keys for name in events.SUBSCRIPTIONS.get(key, ((), ""))[0])


def expand_braces(pattern: str) -> list[str]:
    """``{main,release/*}`` -> ``["main", "release/*"]``, as Gitea's branch filter allows (nested braces too)."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        if pattern[end] == "{":
            depth += 1
        elif pattern[end] == "}":
            depth -= 1
            if depth == 0:
                break
    else:
        return [pattern]  # unbalanced: taken literally
    inner, options, level, piece = pattern[start + 1:end], [], 0, ""
    for char in inner:
        if char == "," and level == 0:
            options.append(piece)
            piece = ""
            continue
        level += char == "{"
        level -= char == "}"
        piece += char
    options.append(piece)
    rest = pattern[end + 1:]
    return [expanded for option in options for expanded in expand_braces(pattern[:start] + option + rest)]


def branch_matches(branch_filter: str, branch: str) -> bool:
    """Whether ``branch`` passes a hook's filter: empty or ``*`` lets everything through; otherwise globs
    (``release/*``, ``{main,develop}``) matched against the whole branch name."""
    branch_filter = branch_filter.strip()
    if not branch_filter or branch_filter == "*":
        return True
    return any(fnmatch.fnmatchcase(branch, glob) for glob in expand_braces(branch_filter))


def _wanted(hook: Webhook, event: str, branch: str | None) -> bool:
    if event == events.PING or event not in subscribed_events(hook.events):
        return False
    if branch is not None and event in BRANCH_EVENTS:
        return branch_matches(hook.branch_filter, branch)
    return True


def hooks_for(session: Session, repo: Repository, event: str, *, branch: str | None = None) -> list[Webhook]:
    """Active hooks of ``repo`` and of the organisation owning it (if the owner is an org) subscribed to
    ``event``; for push/create/delete, ``branch`` is checked against each hook's branch filter."""
    # Only organisations have account-level hooks, so matching org_id to the owner is enough.
    stmt = select(Webhook).where(
        col(Webhook.active) == True,  # noqa: E712
        or_(col(Webhook.repo_id) == repo.id, col(Webhook.org_id) == repo.owner_id),
    ).order_by(col(Webhook.id))
    return [hook for hook in session.exec(stmt) if _wanted(hook, event, branch)]


def hooks_for_org(session: Session, org_id: int, event: str) -> list[Webhook]:
    """Active hooks of the organisation ``org_id`` subscribed to ``event`` (repository created or deleted)."""
    stmt = select(Webhook).where(col(Webhook.active) == True, col(Webhook.org_id) == org_id)  # noqa: E712
    return [hook for hook in session.exec(stmt.order_by(col(Webhook.id))) if _wanted(hook, event, None)]


def enqueue(session: Session, hooks: list[Webhook], event: str, payload: dict[str, Any], *,
            action: str = "", is_test: bool = False, redelivery_of: int | None = None) -> list[WebhookDelivery]:
    """Queue one delivery per hook in the caller's transaction (nothing is sent until it commits); the sender
    is kicked once it has. ``payload`` must be JSON-ready (``model_dump(mode="json")``): it is stored as is."""
    rows = []
    for hook in hooks:
        assert hook.id is not None
        row = WebhookDelivery(webhook_id=hook.id, guid=str(uuid.uuid4()), event=event, action=action[:40],
                              payload=payload, is_test=is_test, redelivery_of_id=redelivery_of)
        session.add(row)
        rows.append(row)
    if rows:
        session.flush()
    return rows
