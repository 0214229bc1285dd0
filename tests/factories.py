"""Test data made through the domain services, with unique names so tests sharing a server never collide."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from forge.accounts import orgs, tokens, users
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.repos import services as repos
from forge.settings import Settings

_counter = itertools.count(1)
PASSWORD = "correct-horse-42"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


@dataclass
class Factory:
    engine: Engine
    settings: Settings

    def user(self, name: str | None = None, *, admin: bool = False, password: str = PASSWORD,
             **kwargs: Any) -> Account:
        name = name or unique("user")
        with session_scope(self.engine) as s:
            return users.create_user(s, name, password, f"{name}@example.com", is_admin=admin, **kwargs)

    def org(self, owner: Account, name: str | None = None) -> Account:
        with session_scope(self.engine) as s:
            return orgs.create_org(s, owner, name or unique("org"))

    def repo(self, owner: Account, name: str | None = None, *, actor: Account | None = None,
             **kwargs: Any) -> repos.RepoRef:
        with session_scope(self.engine) as s:
            return repos.create_repository(
                s, self.settings.repos_dir, actor or owner, owner, name or unique("repo"), **kwargs
            )

    def token(self, user: Account, scopes: list[str], days: int | None = None) -> str:
        with session_scope(self.engine) as s:
            _, secret = tokens.create_token(s, user, unique("token"), scopes, expires_in_days=days)
            return secret

    def session(self):  # type: ignore[no-untyped-def]
        return session_scope(self.engine)
