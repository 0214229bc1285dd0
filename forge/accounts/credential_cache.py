"""A short-lived, in-process memory of recently verified Basic credentials.

git sends the password with every request of a clone or push (two or three per operation), and each argon2
verification costs tens of milliseconds of CPU by design. Remembering a successful verification for a minute
removes that cost from the git hot path without weakening the checks that matter:

* the key is a keyed hash (HMAC with the site secret) of name and password, so the memory holds no password;
* a hit is only honoured while the account's password hash is unchanged, so a password change takes effect at
  once; blocked or unapproved accounts are refused on every request by the caller's usual checks;
* failures are never remembered, so a wrong password always costs a full verification.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict

TTL_SECONDS = 60.0
MAX_ENTRIES = 4096


class CredentialCache:
    def __init__(self, secret: str, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self._secret = secret.encode()
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[int, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, login: str, password: str) -> bytes:
        return hmac.new(self._secret, f"{login.lower()}\0{password}".encode(), hashlib.sha256).digest()

    def lookup(self, login: str, password: str) -> tuple[int, str] | None:
        """The (account id, password hash) remembered for these credentials, if still fresh."""
        key = self._key(login, password)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            account_id, password_hash, expires = entry
            if expires < time.monotonic():
                del self._entries[key]
                return None
            return account_id, password_hash

    def remember(self, login: str, password: str, account_id: int, password_hash: str) -> None:
        key = self._key(login, password)
        with self._lock:
            self._entries[key] = (account_id, password_hash, time.monotonic() + self._ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
