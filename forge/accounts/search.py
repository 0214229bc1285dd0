"""Finding users and organisations by name, one page at a time with the total (the API's user lists and search).

Names and display names are public (every profile page shows them); sign-ups still waiting for an administrator's
approval are left out, as they have no public page yet.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, func, select

from forge.accounts.models import Account, AccountKind

MAX_QUERY = 100
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def _clean(query: str) -> str:
    # PostgreSQL refuses a NUL in a string; control characters match no name anyway.
    return _CONTROL_RE.sub(" ", query).strip().lower()[:MAX_QUERY]


def _where(text: str, kind: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [col(Account.is_active).is_(True)]
    if kind is not None:
        where.append(col(Account.kind) == kind)
    for term in text.split():
        where.append(or_(col(Account.lower_name).contains(term, autoescape=True),
                         func.lower(col(Account.display_name)).contains(term, autoescape=True)))
    return where


def search_accounts(session: Session, query: str = "", *, kind: AccountKind | None = None, offset: int = 0,
                    limit: int = 30) -> tuple[list[Account], int]:
    """One page of accounts whose name or display name contains every word of ``query`` (all when empty), exact
    name first, then by name; and how many match in all."""
    text = _clean(query)
    where = _where(text, kind)
    total = session.exec(select(func.count()).select_from(Account).where(*where)).one()
    exact = col(Account.lower_name) == text
    stmt = select(Account).where(*where).order_by(exact.desc(), col(Account.lower_name)).offset(offset).limit(limit)
    return list(session.exec(stmt)), int(total)
