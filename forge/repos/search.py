"""Finding repositories across the site (the explore page), by name, owner, description and topics.

Only repositories the viewer may see are ever considered: the visibility clause is the same one every listing
uses (services.visible_repos_filter), applied in the query itself, so neither the results nor the total count can
reveal a private repository.

Each word of the query must match somewhere: in the repository's name, its description or its topics (all case
insensitive, as substrings); ``owner/name`` matches owner and name; ``topic:rust`` matches that topic exactly.
Names that equal or contain the whole query rank first, then the most recently updated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, or_
from sqlmodel import Session, col, func, select

from forge.accounts.models import Account
from forge.repos.models import Repository
from forge.repos.services import RepoRef, visible_repos_filter

PER_PAGE = 20
MAX_QUERY = 200
MAX_TERMS = 10
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
_SORT_COLUMNS = {"updated": col(Repository.updated_at), "created": col(Repository.created_at),
                 "name": col(Repository.lower_name)}
SORTS = ("best-match", *_SORT_COLUMNS)


@dataclass(frozen=True)
class RepoSearchPage:
    items: list[RepoRef]
    total: int
    page: int
    per_page: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def _term_clause(term: str) -> ColumnElement[bool]:
    if term.startswith("topic:") and len(term) > len("topic:"):
        topic = term[len("topic:") :]
        # Topics are stored lower case and space separated; padding with spaces makes the match exact.
        padded = " " + col(Repository.topics) + " "
        return padded.contains(f" {topic} ", autoescape=True)
    if "/" in term:
        owner, _, name = term.partition("/")
        parts = []
        if owner:
            parts.append(col(Account.lower_name).contains(owner, autoescape=True))
        if name:
            parts.append(col(Repository.lower_name).contains(name, autoescape=True))
        return and_(*parts) if parts else col(Repository.id).is_not(None)
    return or_(
        col(Repository.lower_name).contains(term, autoescape=True),
        func.lower(col(Repository.description)).contains(term, autoescape=True),
        col(Repository.topics).contains(term, autoescape=True),
    )


def search_repos(
    session: Session, actor: Account | None, query: str, *, page: int = 1, per_page: int = PER_PAGE,
    sort: str = "best-match", ascending: bool = False,
) -> RepoSearchPage:
    """One page of the repositories ``actor`` may see that match ``query``; an empty query lists them all.
    ``sort`` (one of SORTS) other than best-match orders by that column alone (the API's ``sort``/``order``)."""
    # Control characters match nothing worth finding, and PostgreSQL refuses a NUL in a string outright.
    text = _CONTROL_RE.sub(" ", query).strip().lower()[:MAX_QUERY]
    terms = text.split()[:MAX_TERMS]
    where = [visible_repos_filter(session, actor), *(_term_clause(t) for t in terms)]
    base = select(Repository, Account).join(Account, col(Account.id) == Repository.owner_id).where(*where)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    page = max(page, 1)
    ranking: list[Any] = []
    if sort in _SORT_COLUMNS:
        column = _SORT_COLUMNS[sort]
        ranking.append(column.asc() if ascending else column.desc())
    elif text and "/" not in text and ":" not in text:
        ranking.append(
            case(
                (col(Repository.lower_name) == text, 0),
                (col(Repository.lower_name).contains(text, autoescape=True), 1),
                else_=2,
            )
        )
    stmt = base.order_by(*ranking, col(Repository.updated_at).desc(), col(Repository.id).desc())
    rows = session.exec(stmt.offset((page - 1) * per_page).limit(per_page))
    return RepoSearchPage([RepoRef(r, o) for r, o in rows], total, page, per_page)
