"""The issue list: filters, a GitHub-style query (``is:open label:bug author:alice assignee:bob milestone:"v1"
no:label sort:comments-desc text``), sorting and pagination.

Filters live in the URL, so a filtered list can be bookmarked and shared. The query box and the separate URL
parameters describe the same ``IssueFilter``; ``to_query`` turns a filter back into the query text shown in the box.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, func, select

from forge.accounts.models import Account
from forge.issues.metadata import assignees_of, available_labels, labels_of
from forge.issues.models import CLOSED, OPEN, Issue, IssueAssignee, IssueLabel, Label, Milestone
from forge.repos.services import RepoRef

PER_PAGE = 25
SORTS = ("newest", "oldest", "most-commented", "least-commented", "recently-updated", "least-recently-updated",
         "due-soon")
_SORT_ALIASES = {
    "created-desc": "newest", "created-asc": "oldest", "comments-desc": "most-commented",
    "comments-asc": "least-commented", "updated-desc": "recently-updated", "updated-asc": "least-recently-updated",
    "due-asc": "due-soon",
}
NONE = "none"  # milestone:none, assignee:none


@dataclass
class IssueFilter:
    state: str = OPEN  # open / closed / all
    labels: list[str] = field(default_factory=list)  # names; an issue must carry all of them
    no_label: bool = False
    milestone: str = ""  # a title, "none", or "" for any
    assignee: str = ""  # a user name, "none", or ""
    author: str = ""
    mentions: str = ""
    text: str = ""
    sort: str = "newest"
    page: int = 1

    def with_(self, **changes: Any) -> IssueFilter:
        return replace(self, **changes)


@dataclass(frozen=True)
class IssueRow:
    issue: Issue
    author: Account | None
    labels: list[Label]
    assignees: list[Account]
    milestone: Milestone | None


@dataclass(frozen=True)
class IssuePage:
    rows: list[IssueRow]
    total: int  # matching the filter, all pages
    page: int
    per_page: int
    open_count: int  # matching everything but the state
    closed_count: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def page_numbers(self, around: int = 2) -> list[int | None]:
        """Page numbers to show: the first, the last and ``around`` either side of the current; None is a gap."""
        shown = sorted({1, self.pages, *range(max(1, self.page - around), min(self.pages, self.page + around) + 1)})
        result: list[int | None] = []
        for n in shown:
            if result and n - (result[-1] or 0) > 1:
                result.append(None)
            result.append(n)
        return result


def parse_query(query: str, base: IssueFilter | None = None) -> IssueFilter:
    """Read a query typed in the search box. Unknown qualifiers are searched as text."""
    f = replace(base) if base else IssueFilter()
    f.labels = list(f.labels)
    try:
        words = shlex.split(query)
    except ValueError:  # an unbalanced quote
        words = query.replace('"', " ").split()
    text: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep or not value:
            text.append(word)
        elif key == "is" and value.lower() in (OPEN, CLOSED):
            f.state = value.lower()
        elif key == "is" and value.lower() in ("issue", "pr"):
            continue
        elif key == "state" and value.lower() in (OPEN, CLOSED, "all"):
            f.state = value.lower()
        elif key == "label":
            f.labels += [v.strip() for v in value.split(",") if v.strip()]
        elif key == "no" and value.lower() == "label":
            f.no_label = True
        elif key == "no" and value.lower() == "milestone":
            f.milestone = NONE
        elif key == "no" and value.lower() == "assignee":
            f.assignee = NONE
        elif key == "milestone":
            f.milestone = value
        elif key == "assignee":
            f.assignee = value.lstrip("@")
        elif key == "author":
            f.author = value.lstrip("@")
        elif key == "mentions":
            f.mentions = value.lstrip("@")
        elif key == "sort":
            sort = _SORT_ALIASES.get(value.lower(), value.lower())
            if sort in SORTS:
                f.sort = sort
        else:
            text.append(word)
    f.text = " ".join(text)
    return f


def _quote(value: str) -> str:
    return f'"{value}"' if any(ch.isspace() for ch in value) or not value else value


def to_query(f: IssueFilter) -> str:
    """The query text for ``f`` (the inverse of parse_query)."""
    parts = ["is:" + f.state if f.state in (OPEN, CLOSED) else "state:all"]
    parts += [f"label:{_quote(name)}" for name in f.labels]
    if f.no_label:
        parts.append("no:label")
    if f.milestone == NONE:
        parts.append("no:milestone")
    elif f.milestone:
        parts.append(f"milestone:{_quote(f.milestone)}")
    if f.assignee == NONE:
        parts.append("no:assignee")
    elif f.assignee:
        parts.append(f"assignee:{f.assignee}")
    if f.author:
        parts.append(f"author:{f.author}")
    if f.mentions:
        parts.append(f"mentions:{f.mentions}")
    if f.sort != "newest":
        parts.append(f"sort:{f.sort}")
    if f.text:
        parts.append(f.text)
    return " ".join(parts)


def _conditions(session: Session, ref: RepoRef, f: IssueFilter,
                is_pull: bool | None) -> list[ColumnElement[bool]] | None:
    """WHERE clauses for everything but the state; None when the filter cannot match (an unknown label...)."""
    conds: list[ColumnElement[bool]] = [col(Issue.repo_id) == ref.repo.id]
    if is_pull is not None:
        conds.append(col(Issue.is_pull) == is_pull)
    if f.labels:
        by_name = {label.lower_name: label for label in available_labels(session, ref)}
        for name in f.labels:
            label = by_name.get(name.lower())
            if label is None:
                return None
            conds.append(col(Issue.id).in_(select(IssueLabel.issue_id).where(IssueLabel.label_id == label.id)))
    if f.no_label:
        conds.append(~col(Issue.id).in_(select(IssueLabel.issue_id)))
    if f.milestone == NONE:
        conds.append(col(Issue.milestone_id).is_(None))
    elif f.milestone:
        milestone = session.exec(select(Milestone).where(Milestone.repo_id == ref.repo.id,
                                                         Milestone.lower_title == f.milestone.lower())).first()
        if milestone is None:
            return None
        conds.append(col(Issue.milestone_id) == milestone.id)
    for name, column in ((f.assignee, "assignee"), (f.author, "author")):
        if not name or name == NONE:
            continue
        user = session.exec(select(Account).where(Account.lower_name == name.lower())).first()
        if user is None:
            return None
        if column == "author":
            conds.append(col(Issue.author_id) == user.id)
        else:
            conds.append(col(Issue.id).in_(select(IssueAssignee.issue_id).where(IssueAssignee.user_id == user.id)))
    if f.assignee == NONE:
        conds.append(~col(Issue.id).in_(select(IssueAssignee.issue_id)))
    if f.mentions:
        needle = "@" + f.mentions
        conds.append(col(Issue.body).icontains(needle, autoescape=True))
    for word in f.text.split():
        conds.append(or_(col(Issue.title).icontains(word, autoescape=True),
                         col(Issue.body).icontains(word, autoescape=True)))
    return conds


def _order(sort: str) -> list[Any]:
    number = col(Issue.number)
    orders: dict[str, list[Any]] = {
        "newest": [col(Issue.created_at).desc(), number.desc()],
        "oldest": [col(Issue.created_at).asc(), number.asc()],
        "most-commented": [col(Issue.comment_count).desc(), number.desc()],
        "least-commented": [col(Issue.comment_count).asc(), number.desc()],
        "recently-updated": [col(Issue.updated_at).desc(), number.desc()],
        "least-recently-updated": [col(Issue.updated_at).asc(), number.asc()],
        "due-soon": [col(Issue.due_date).is_(None), col(Issue.due_date).asc(), number.desc()],
    }
    return orders.get(sort, orders["newest"])


def list_issues(session: Session, ref: RepoRef, f: IssueFilter, *, is_pull: bool | None = False,
                per_page: int = PER_PAGE) -> IssuePage:
    """One page of issues (``is_pull`` False), pull requests (True) or both (None) matching ``f``."""
    conds = _conditions(session, ref, f, is_pull)
    if conds is None:
        return IssuePage([], 0, 1, per_page, 0, 0)
    by_state = {OPEN: 0, CLOSED: 0}
    stmt_counts = select(Issue.state, func.count()).where(and_(*conds)).group_by(col(Issue.state))
    for state, n in session.exec(stmt_counts):
        by_state[state] = int(n)
    if f.state in (OPEN, CLOSED):
        conds.append(col(Issue.state) == f.state)
        total = by_state[f.state]
    else:
        total = by_state[OPEN] + by_state[CLOSED]
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, f.page), pages)
    stmt = select(Issue).where(and_(*conds)).order_by(*_order(f.sort)).offset((page - 1) * per_page).limit(per_page)
    issues = list(session.exec(stmt))
    ids = [i.id for i in issues if i.id is not None]
    labels = labels_of(session, ids)
    assignees = assignees_of(session, ids)
    account_ids = {i.author_id for i in issues if i.author_id is not None}
    authors = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(account_ids)))}
    milestone_ids = {i.milestone_id for i in issues if i.milestone_id is not None}
    milestones = {m.id: m for m in session.exec(select(Milestone).where(col(Milestone.id).in_(milestone_ids)))}
    rows = [IssueRow(i, authors.get(i.author_id), labels[i.id or 0], assignees[i.id or 0],
                     milestones.get(i.milestone_id)) for i in issues]
    return IssuePage(rows, total, page, per_page, by_state[OPEN], by_state[CLOSED])
