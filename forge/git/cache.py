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
# Besides the number of entries, the total "weight" is bounded: a result's weight is roughly how many items it holds
# (directory entries, paths, blamed lines), each of which takes 70-220 bytes in memory (measured on the code-browsing
# benchmark's repository). 500,000 units keep one worker's cache near 100 MiB at worst, however big the repositories.
DEFAULT_WEIGHT = 500_000


class ObjectCache:
    """A thread-safe least-recently-used map from ``(kind, repository path, object id, ...)`` keys to results."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, max_weight: int = DEFAULT_WEIGHT) -> None:
        self._max = max_entries
        self._max_weight = max_weight
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: Any, weight: int = 1) -> None:
        """Store ``value``; ``weight`` is about how many items it holds. A value heavier than the whole budget is
        not kept at all (it would only push everything else out)."""
        weight = max(weight, 1)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            if weight > self._max_weight:
                return
            self._items[key] = (value, weight)
            self._weight += weight
            while len(self._items) > self._max or self._weight > self._max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], weigh: Callable[[T], int] | None = None) -> T:
        """The cached value for ``key``, computing and storing it on a miss (``weigh`` gives its weight). Two
        threads missing at once may both compute; both results are equal, so the race costs time, never
        correctness."""
        found = self.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        value = compute()
        self.put(key, value, weigh(value) if weigh is not None else 1)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._items)


# One cache per process for everything the code browser derives from commits: last commit per directory entry,
# language breakdowns, commit counts, blame. Keys start with a kind ("last-commits", "languages", ...).
objects = ObjectCache()
