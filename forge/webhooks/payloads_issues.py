"""Issue, comment, pull request and review payloads, from activity rows (forge.activity).

One activity may mean several deliveries, as on GitHub: assigning two people is two ``assigned`` events, each
naming its ``assignee``. A pull request is an issue underneath, so issue activity on one becomes a
``pull_request`` event (``edited``, ``closed``, ``reopened``, ``assigned``, ``labeled``), except comments, which
are ``issue_comment`` with ``issue.pull_request`` set (GitHub does the same). A merge records both
``pull.merged`` and ``issue.closed``: the first sends ``closed`` with ``merged: true``, the second nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from forge import activity as act
from forge.accounts.models import Account
from forge.activity import Activity
from forge.issues.models import MERGED, Issue, IssueComment, Label
from forge.pulls.models import PullReview
from forge.pulls.services import pull_for_issue
from forge.repos.services import RepoRef, open_git
from forge.webhooks import events, queue
from forge.webhooks.payloads import envelope
from forge.wire.issues import comment_out, issue_out, label_out
from forge.wire.pulls import pull_out, review_out
from forge.wire.users import user_brief

# Issue activity -> the action it is, on an issue and on a pull request.
_ISSUE_ACTIONS = {
    act.ISSUE_OPENED: "opened",
    act.ISSUE_EDITED: "edited",
    act.ISSUE_CLOSED: "closed",
    act.ISSUE_REOPENED: "reopened",
    act.ISSUE_ASSIGNED: "assigned",
    act.ISSUE_LABELED: "labeled",
}
_PULL_ACTIONS = {
    act.PULL_OPENED: "opened",
    act.PULL_SYNCHRONIZED: "synchronize",
    act.PULL_MERGED: "closed",
    act.PULL_READY: "ready_for_review",
    act.PULL_REVIEW_REQUESTED: "review_requested",
}


@dataclass(frozen=True)
class Planned:
    """One delivery an activity means: the event, its action and the ids of what it names."""

    event: str
    action: str
    extra: dict[str, int] = field(default_factory=dict)


def _each(event: str, action: str, key: str, ids: Any) -> list[Planned]:
    return [Planned(event, action, {key: int(i)}) for i in (ids or []) if isinstance(i, int)]


def plan(activity: Activity, issue: Issue) -> list[Planned]:
    """The deliveries ``activity`` (on ``issue``) means, before looking at which hooks want them."""
    kind, data = activity.kind, activity.data or {}
    if kind == act.ISSUE_COMMENTED and activity.comment_id is not None:
        return [Planned(events.ISSUE_COMMENT, "created", {"comment": activity.comment_id})]
    if kind == act.PULL_REVIEWED and isinstance(data.get("review_id"), int):
        return [Planned(events.PULL_REQUEST_REVIEW, "submitted", {"review": data["review_id"]})]
    if kind in _PULL_ACTIONS:
        action = _PULL_ACTIONS[kind]
        if kind == act.PULL_REVIEW_REQUESTED:
            return _each(events.PULL_REQUEST, action, "requested_reviewer", data.get("user_ids"))
        return [Planned(events.PULL_REQUEST, action)]
    if kind not in _ISSUE_ACTIONS:
        return []  # mentions, review comments: no webhook event
    if issue.is_pull and kind == act.ISSUE_OPENED:
        return []  # pull.opened says it
    if issue.is_pull and kind == act.ISSUE_CLOSED and data.get("reason") == MERGED:
        return []  # pull.merged says it
    event, action = (events.PULL_REQUEST if issue.is_pull else events.ISSUES), _ISSUE_ACTIONS[kind]
    if kind == act.ISSUE_ASSIGNED:
        return _each(event, action, "assignee", data.get("user_ids"))
    if kind == act.ISSUE_LABELED:
        return _each(event, action, "label", data.get("label_ids"))
    return [Planned(event, action)]


def _pull_fields(session: Session, base: str, repos_root: Path, ref: RepoRef, issue: Issue) -> dict[str, Any]:
    pull = pull_for_issue(session, issue.id or 0)
    if pull is None:
        return {}
    git = open_git(repos_root, ref)
    body = pull_out(session, base, ref, pull, issue=issue, git=git).model_dump(mode="json")
    return {"number": issue.number, "pull_request": body}


def _extra_fields(session: Session, base: str, ref: RepoRef, planned: Planned) -> dict[str, Any] | None:
    """The named objects (assignee, label, requested reviewer); None when one is gone."""
    fields: dict[str, Any] = {}
    for key in ("assignee", "requested_reviewer"):
        if key in planned.extra:
            account = session.get(Account, planned.extra[key])
            if account is None:
                return None
            fields[key] = user_brief(account, base).model_dump(mode="json")
    if "label" in planned.extra:
        label = session.get(Label, planned.extra["label"])
        if label is None:
            return None
        fields["label"] = label_out(label, base, ref=ref).model_dump(mode="json")
    return fields


def build(session: Session, base: str, repos_root: Path, ref: RepoRef, issue: Issue, activity: Activity,
          planned: Planned) -> dict[str, Any] | None:
    """The payload of one planned delivery; None when what it names no longer exists."""
    actor = session.get(Account, activity.actor_id) if activity.actor_id is not None else None
    extra = _extra_fields(session, base, ref, planned)
    if extra is None:
        return None
    fields: dict[str, Any] = {"action": planned.action, **extra}
    if planned.event in (events.ISSUES, events.ISSUE_COMMENT):
        fields["issue"] = issue_out(session, base, ref, issue).model_dump(mode="json")
    if planned.event == events.ISSUE_COMMENT:
        comment = session.get(IssueComment, planned.extra["comment"])
        if comment is None:
            return None
        fields["comment"] = comment_out(session, base, ref, comment).model_dump(mode="json")
    if planned.event in (events.PULL_REQUEST, events.PULL_REQUEST_REVIEW):
        pull_fields = _pull_fields(session, base, repos_root, ref, issue)
        if not pull_fields:
            return None
        fields.update(pull_fields)
        if planned.action == "synchronize":
            fields["before"] = str(activity.data.get("before", ""))
            fields["after"] = str(activity.data.get("after", ""))
    if planned.event == events.PULL_REQUEST_REVIEW:
        row = session.get(PullReview, planned.extra["review"])
        pull = pull_for_issue(session, issue.id or 0)
        if row is None or pull is None:
            return None
        shown = review_out(session, base, ref, pull, row, number=issue.number).model_dump(mode="json")
        shown["state"] = str(shown["state"]).lower()  # GitHub's webhooks say "approved" where its API says "APPROVED"
        fields["review"] = shown
    return envelope(session, base, ref, actor, fields)


def handle_activity(session: Session, base: str, repos_root: Path, ref: RepoRef, issue: Issue,
                    activity: Activity) -> int:
    """Queue the deliveries of ``activity`` to the hooks that want them; returns how many. Payloads are built only
    for events some hook wants."""
    queued = 0
    for planned in plan(activity, issue):
        hooks = queue.hooks_for(session, ref.repo, planned.event)
        if not hooks:
            continue
        payload = build(session, base, repos_root, ref, issue, activity, planned)
        if payload is not None:
            queued += len(queue.enqueue(session, hooks, planned.event, payload, action=planned.action))
    return queued
