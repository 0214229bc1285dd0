"""Helpers for the webhook event tests: make a hook through the hooks service and pick events out of what a
``tests.hookreceiver.HookReceiver`` recorded."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select

from forge.accounts.models import Account
from forge.repos.models import PushEvent
from forge.repos.services import RepoRef
from forge.webhooks import hooks
from forge.webhooks.models import WebhookPushSeen
from tests.factories import Factory
from tests.hookreceiver import Hit, HookReceiver


def add_hook(factory: Factory, actor: Account, url: str, *, repo: RepoRef | None = None, org: Account | None = None,
             events: Sequence[str] = (), branch_filter: str = "") -> int:
    """A hook on ``repo`` (or on ``org``) delivering to ``url``, made by ``actor`` (its admin or owner)."""
    with factory.session() as s:
        who = s.merge(actor)
        if repo is not None:
            target = hooks.repo_target(s, who, repo.owner.name, repo.repo.name)
        else:
            assert org is not None
            target = hooks.org_target(s, who, org.name)
        hook = hooks.create_hook(s, factory.settings, who, target, url=url, events=events,
                                 branch_filter=branch_filter)
        assert hook.id is not None
        return hook.id


def event_of(hit: Hit) -> tuple[str, str]:
    """(event header, payload action) of a recorded delivery."""
    return hit.headers["X-GitHub-Event"], str(hit.json().get("action", ""))


def wait_event(receiver: HookReceiver, event: str, action: str | None = None, *, timeout: float = 20.0,
               **fields: Any) -> dict[str, Any]:
    """The payload of the first delivery of ``event`` (with ``action``, and top-level ``fields`` equal), waiting
    for it."""
    deadline = time.monotonic() + timeout
    while True:
        for hit in receiver.requests:
            name, got_action = event_of(hit)
            payload = hit.json()
            if name == event and (action is None or got_action == action) and all(
                    payload.get(k) == v for k, v in fields.items()):
                return payload  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event}/{action} {fields} delivery; got "
                                 f"{[event_of(h) for h in receiver.requests]}")
        time.sleep(0.05)


def settle(seconds: float = 3.0) -> None:
    """Give the fan-out's periodic sweep (every 2 s) time to deliver anything that should NOT arrive."""
    time.sleep(seconds)


def wait_pushes_seen(factory: Factory, repo_id: int, count: int, timeout: float = 15.0) -> None:
    """Wait until the webhook fan-out has handled ``count`` push events of the repository (so a hook made next
    does not hear about them)."""
    deadline = time.monotonic() + timeout
    while True:
        with factory.session() as s:
            seen = len(list(s.exec(
                select(WebhookPushSeen.push_event_id)
                .join(PushEvent, col(PushEvent.id) == WebhookPushSeen.push_event_id)
                .where(PushEvent.repo_id == repo_id))))
        if seen >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the fan-out handled {seen} push events of repository {repo_id}, not {count}")
        time.sleep(0.05)
