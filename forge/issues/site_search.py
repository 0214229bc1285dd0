"""Searching issues and pull requests across every repository the viewer may see (the API's ``/search/issues``).

The query is the issue list's (forge.issues.search.parse_query: ``is:open label:bug author:alice text``...) plus
the qualifiers that only make sense across repositories: ``repo:owner/name``, ``user:name`` or ``org:name`` (the
repositories of one owner), and ``is:issue`` / ``is:pr`` (also ``type:issue`` / ``type:pr``). Unlike the issue
list, both states are searched unless ``is:open`` or ``is:closed`` says otherwise (as on GitHub).

Visibility is the same WHERE clause every repository listing uses (services.visible_repos_filter), inside the
query, so neither the results nor the total reveal an issue of a private repository.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, func, select

from forge.accounts.models import Account
from forge.issues.models import CLOSED, OPEN, Issue, IssueAssignee, IssueLabel, Label, Milestone
from forge.issues.search import NONE, IssueFilter, _order, parse_query
from forge.repos.models import Repository
from forge.repos.services import RepoRef, visible_repos_filter

MAX_QUERY = 256
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class SiteQuery:
    filter: IssueFilter
    repo: str = ""  # "owner/name"
    owner: str = ""
    is_pull: bool | None = None


def parse_site_query(query: str) -> SiteQuery:
    """Split the cross-repository qualifiers off and let parse_query read the rest."""
    text = _CONTROL_RE.sub(" ", query)[:MAX_QUERY]
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote
        words = text.replace('"', " ").split()
    rest: list[str] = []
    repo = owner = ""
    is_pull: bool | None = None
    for word in words:
        key, _, value = word.partition(":")
        key, lowered = key.lower(), value.lower()
        if key == "repo" and "/" in value:
            repo = value
        elif key in ("user", "org") and value:
            owner = value
        elif key in ("is", "type") and lowered in ("issue", "pr"):
            is_pull = lowered == "pr"
        else:
            rest.append(f'{key}:"{value}"' if value and " " in value else word)
    return SiteQuery(parse_query(" ".join(rest), IssueFilter(state="all")), repo, owner, is_pull)


def _account_id(session: Session, name: str) -> int | None:
    account = session.exec(select(Account).where(Account.lower_name == name.lower().lstrip("@"))).first()
    return account.id if account is not None else None


def _conditions(session: Session, actor: Account | None, q: SiteQuery) -> list[ColumnElement[bool]] | None:
    """WHERE clauses; None when the query cannot match (an unknown user, say)."""
    f = q.filter
    repos = select(Repository.id).join(Account, col(Account.id) == Repository.owner_id).where(
        visible_repos_filter(session, actor))
    if q.repo:
        owner, _, name = q.repo.partition("/")
        repos = repos.where(col(Account.lower_name) == owner.lower(), col(Repository.lower_name) == name.lower())
    if q.owner:
        repos = repos.where(col(Account.lower_name) == q.owner.lower())
    conds: list[ColumnElement[bool]] = [col(Issue.repo_id).in_(repos)]
    if q.is_pull is not None:
        conds.append(col(Issue.is_pull) == q.is_pull)
    if f.state in (OPEN, CLOSED):
        conds.append(col(Issue.state) == f.state)
    for name in f.labels:
        labelled = (select(IssueLabel.issue_id).join(Label, col(Label.id) == IssueLabel.label_id)
                    .where(col(Label.lower_name) == name.lower()))
        conds.append(col(Issue.id).in_(labelled))
    if f.no_label:
        conds.append(~col(Issue.id).in_(select(IssueLabel.issue_id)))
    if f.milestone == NONE:
        conds.append(col(Issue.milestone_id).is_(None))
    elif f.milestone:
        titled = select(Milestone.id).where(Milestone.lower_title == f.milestone.lower())
        conds.append(col(Issue.milestone_id).in_(titled))
    if f.author:
        author_id = _account_id(session, f.author)
        if author_id is None:
            return None
        conds.append(col(Issue.author_id) == author_id)
    if f.assignee == NONE:
        conds.append(~col(Issue.id).in_(select(IssueAssignee.issue_id)))
    elif f.assignee:
        assignee_id = _account_id(session, f.assignee)
        if assignee_id is None:
            return None
        conds.append(col(Issue.id).in_(select(IssueAssignee.issue_id).where(IssueAssignee.user_id == assignee_id)))
    if f.mentions:
        conds.append(col(Issue.body).icontains("@" + f.mentions, autoescape=True))
    for word in f.text.split():
        conds.append(or_(col(Issue.title).icontains(word, autoescape=True),
                         col(Issue.body).icontains(word, autoescape=True)))
    return conds


def search_issues(session: Session, actor: Account | None, query: str, *, offset: int = 0,
                  limit: int = 30) -> tuple[list[tuple[Issue, RepoRef]], int]:
    """One page of the matching issues and pull requests ``actor`` may see, each with its repository, and how many
    match in all. The order is the query's ``sort:`` (newest first by default)."""
    q = parse_site_query(query)
    conds = _conditions(session, actor, q)
    if conds is None:
        return [], 0
    total = session.exec(select(func.count()).select_from(Issue).where(*conds)).one()
    stmt = (select(Issue, Repository, Account)
            .join(Repository, col(Repository.id) == Issue.repo_id)
            .join(Account, col(Account.id) == Repository.owner_id)
            .where(*conds).order_by(*_order(q.filter.sort), col(Issue.id).desc()).offset(offset).limit(limit))
    return [(issue, RepoRef(repo, owner)) for issue, repo, owner in session.exec(stmt)], int(total)
