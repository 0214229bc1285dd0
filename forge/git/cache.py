"""A small in-process cache for results computed from immutable git objects.

Every key includes the commit (or tree) id the result was computed from, and git objects never change, so an entry
can never go stale: a push makes new ids and therefore new keys, and old entries simply age out of the LRU. Each
worker process holds its own cache; nothing needs invalidating when refs move.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_ENTRIES = 512


class ObjectCache:
    """A thread-safe least-recently-used map from ``(kind, repository path, object id, ...)`` keys to results."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self._max = max_entries
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for ``key``, computing and storing it on a miss. Two threads missing at once may both
        compute; both results are equal, so the race costs time, never correctness."""
        found = self.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        value = compute()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# One cache per process for everything the code browser derives from commits: last commit per directory entry,
# language breakdowns, commit counts, blame. Keys start with a kind ("last-commits", "languages", ...).
objects = ObjectCache()
