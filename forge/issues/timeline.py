"""An issue's (or pull request's) timeline: comments and events, oldest first.

Other parts add their own kinds of item (forge.pulls adds reviews): a ``TimelineItem`` with ``template`` set is
rendered by including that template, so the issue page needs no knowledge of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.issues.models import Issue, IssueComment, IssueEvent


@dataclass
class TimelineItem:
    kind: str  # "comment" | "event" | kinds other parts add ("review", ...)
    created_at: datetime
    actor: Account | None
    comment: IssueComment | None = None
    event: IssueEvent | None = None
    extra: Any = None
    template: str = ""
    html: str = ""  # a comment's rendered body (filled in by the web layer)

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        rank = 0 if self.kind == "comment" else 1
        ident = (self.comment.id if self.comment else self.event.id if self.event else 0) or 0
        return (_naive(self.created_at), rank, ident)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


def build_timeline(session: Session, issue: Issue) -> list[TimelineItem]:
    comments = list(session.exec(select(IssueComment).where(IssueComment.issue_id == issue.id)
                                 .order_by(col(IssueComment.id))))
    events = list(session.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                               .order_by(col(IssueEvent.id))))
    ids = {c.author_id for c in comments} | {e.actor_id for e in events}
    ids.discard(None)
    accounts = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(ids)))} if ids else {}
    items = [TimelineItem("comment", c.created_at, accounts.get(c.author_id), comment=c) for c in comments]
    items += [TimelineItem("event", e.created_at, accounts.get(e.actor_id), event=e) for e in events]
    return sort_items(items)


def sort_items(items: list[TimelineItem]) -> list[TimelineItem]:
    """Oldest first (comments before events of the same instant); for merging in other parts' items."""
    return sorted(items, key=lambda item: item.sort_key)
