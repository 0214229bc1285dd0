"""Webhook payloads: the envelope every event shares, and the repository events.

Payloads follow GitHub's and Gitea's shapes so receivers written for them work: every payload carries
``repository`` (forge.wire.repos), ``sender`` (who did it) and ``organization`` when an organisation owns the
repository, next to the event's own fields. Objects inside (issues, pull requests, pipelines) are the REST API's
JSON (``model_dump(mode="json")`` of the shared wire models), so a receiver can treat both alike. The git events
are in ``payloads_git``, the issue and pull request events in ``payloads_issues``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from forge.webhooks import events, queue
from forge.wire.repos import repository
from forge.wire.users import user_brief

Payload = dict[str, Any]

# Repository event actions (GitHub's names).
CREATED = "created"
DELETED = "deleted"
RENAMED = "renamed"
TRANSFERRED = "transferred"
PUBLICIZED = "publicized"
PRIVATIZED = "privatized"
# Only organisation hooks hear these: a repository hook cannot exist before its repository, nor after it.
ORG_ONLY_ACTIONS = (CREATED, DELETED)


def envelope(session: Session, base: str, ref: RepoRef, sender: Account | None, fields: Payload) -> Payload:
    """``fields`` (the event's own, already JSON-ready) plus ``repository``, ``organization`` and ``sender``."""
    payload: Payload = dict(fields)
    payload["repository"] = repository(session, ref, base).model_dump(mode="json")
    if ref.owner.is_org:
        payload["organization"] = user_brief(ref.owner, base).model_dump(mode="json")
    payload["sender"] = user_brief(sender, base).model_dump(mode="json") if sender is not None else None
    return payload


def send_repository_event(session: Session, base: str, ref: RepoRef, actor: Account | None, action: str,
                          **fields: Any) -> int:
    """Queue a ``repository`` event (``action`` one of the constants above) to the hooks that want it; returns how
    many deliveries were queued. Created and deleted go to the owning organisation's hooks only; build the payload
    of a deletion before the repository row goes."""
    if action in ORG_ONLY_ACTIONS:
        if not ref.owner.is_org or ref.owner.id is None:
            return 0
        hooks = queue.hooks_for_org(session, ref.owner.id, events.REPOSITORY)
    else:
        hooks = queue.hooks_for(session, ref.repo, events.REPOSITORY)
    if not hooks:
        return 0
    payload = envelope(session, base, ref, actor, {"action": action, **fields})
    return len(queue.enqueue(session, hooks, events.REPOSITORY, payload, action=action))
