"""Per-caller request budgets for the API: a fixed one-hour window per access token, signed-in user or client
address, counted in this process (each worker counts on its own, so N workers allow up to N times the limit; the
administrator's guide says so). Thread-safe: the middleware runs on the event loop, tests read it from others.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

WINDOW_SECONDS = 3600
# Forget idle windows once there are this many keys, so a scan from many addresses cannot grow memory forever.
_MAX_KEYS = 100_000


@dataclass
class Budget:
    limit: int
    remaining: int
    reset_at: int  # Unix time the window ends

    @property
    def exhausted(self) -> bool:
        return self.remaining < 0


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window start, requests so far)
        self._lock = threading.Lock()

    def spend(self, key: str, limit: int) -> Budget:
        """Count one request for ``key``; ``remaining`` below zero means refuse it."""
        now = int(time.time())
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= WINDOW_SECONDS:
                start, used = now, 0
            used += 1
            if len(self._windows) >= _MAX_KEYS and key not in self._windows:
                self._forget_expired(now)
            self._windows[key] = (start, used)
        return Budget(limit=limit, remaining=limit - used, reset_at=start + WINDOW_SECONDS)

    def _forget_expired(self, now: int) -> None:
        for k in [k for k, (s, _) in self._windows.items() if now - s >= WINDOW_SECONDS]:
            del self._windows[k]
        if len(self._windows) >= _MAX_KEYS:
            self._windows.clear()  # under a flood, forgetting is better than running out of memory
