"""The Basic-auth credential memory: fast on repeat, never stale after a password change, never remembers
failures, and never lets a blocked account in."""

from __future__ import annotations

import time

import pytest

from forge.accounts import users
from forge.accounts.credential_cache import CredentialCache
from forge.errors import AuthenticationRequired, PermissionDenied
from tests.factories import PASSWORD


def test_repeat_verification_skips_argon2(factory) -> None:  # type: ignore[no-untyped-def]
    user = factory.user()
    cache = CredentialCache("secret")
    with factory.session() as s:
        start = time.perf_counter()
        users.authenticate_basic(s, cache, user.name, PASSWORD)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = users.authenticate_basic(s, cache, user.name, PASSWORD)
        second = time.perf_counter() - start
    assert again.id == user.id
    assert cache.lookup(user.name, PASSWORD) is not None
    assert second < first


def test_password_change_invalidates_and_failures_are_not_remembered(factory) -> None:  # type: ignore[no-untyped-def]
    user = factory.user()
    cache = CredentialCache("secret")
    with factory.session() as s:
        users.authenticate_basic(s, cache, user.name, PASSWORD)
        users.set_password(s, users.get_user(s, user.name), "a-brand-new-password")
    with factory.session() as s, pytest.raises(AuthenticationRequired):
        users.authenticate_basic(s, cache, user.name, PASSWORD)
    with factory.session() as s, pytest.raises(AuthenticationRequired):
        users.authenticate_basic(s, cache, user.name, "wrong")
    assert cache.lookup(user.name, "wrong") is None


def test_blocked_account_refused_even_when_remembered(factory) -> None:  # type: ignore[no-untyped-def]
    admin, user = factory.user(admin=True), factory.user()
    cache = CredentialCache("secret")
    with factory.session() as s:
        users.authenticate_basic(s, cache, user.name, PASSWORD)
        users.set_blocked(s, admin, users.get_user(s, user.name), True)
    with factory.session() as s, pytest.raises(PermissionDenied):
        users.authenticate_basic(s, cache, user.name, PASSWORD)


def test_entries_expire() -> None:
    cache = CredentialCache("secret", ttl=0.0)
    cache.remember("a", "b", 1, "hash")
    assert cache.lookup("a", "b") is None
