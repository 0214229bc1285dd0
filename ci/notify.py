"""In-process wake-ups for the CI long polls (job requests, cancel watches, live log streams).

A long poll waits on a :class:`Subscription` to one or more keys and re-checks the database every ~100 ms anyway,
because another server worker may have made the change; a change made in *this* worker wakes its waiters at once.
Changes are published after the transaction that made them commits (a waiter must find them in the database):

* ORM changes to ``Job`` rows (status, cancel flag, log length) and new log chunks are noticed by session hooks
  installed when this module is imported, so code elsewhere in ``ci`` needs to do nothing;
* code that changes jobs with Core ``UPDATE`` statements calls :func:`after_commit` with the keys to publish.

Publishing is thread-safe: the database work runs in worker threads, the waiters in the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from ci.models import PENDING, Job, JobLogChunk

# A job became pending: requesters should try to claim.
JOBS_PENDING = "jobs:pending"
_SESSION_KEY = "ci_notify_keys"


def job_key(job_id: int) -> str:
    """Published when the job's state, cancel flag or log changes."""
    return f"job:{job_id}"


class Subscription:
    """Registered for its whole life, so a publish between a database check and the next wait is not lost."""

    def __init__(self, hub: Hub, keys: tuple[str, ...]) -> None:
        self.hub = hub
        self.keys = keys
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def _wake(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, timeout: float) -> bool:
        """Wait until a key is published or ``timeout`` seconds pass; True when woken by a publish."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.event.clear()


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}

    @contextlib.contextmanager
    def subscribe(self, *keys: str) -> Iterator[Subscription]:
        sub = Subscription(self, keys)
        with self._lock:
            for key in keys:
                self._subs.setdefault(key, set()).add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                for key in keys:
                    subs = self._subs.get(key)
                    if subs is not None:
                        subs.discard(sub)
                        if not subs:
                            del self._subs[key]

    def publish(self, *keys: str) -> None:
        with self._lock:
            subs = {sub for key in keys for sub in self._subs.get(key, ())}
        for sub in subs:
            # The loop may have closed (server shutting down); nobody is waiting then.
            with contextlib.suppress(RuntimeError):
                sub._wake()


hub = Hub()


def after_commit(session: Session, *keys: str) -> None:
    """Publish ``keys`` once ``session``'s transaction commits (dropped if it rolls back)."""
    pending: set[str] = session.info.setdefault(_SESSION_KEY, set())
    pending.update(keys)


def _changed(obj: Any, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _collect(session: Session, objects: Iterable[Any], new: bool) -> None:
    for obj in objects:
        if isinstance(obj, Job) and obj.id is not None:
            if new or _changed(obj, "status", "cancel_requested", "log_length"):
                after_commit(session, job_key(obj.id))
            if obj.status == PENDING and (new or _changed(obj, "status")):
                after_commit(session, JOBS_PENDING)
        elif isinstance(obj, JobLogChunk) and new:
            after_commit(session, job_key(obj.job_id))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    # ``new`` and ``dirty`` still describe what this flush wrote, and attribute history is still there.
    _collect(session, session.new, True)
    _collect(session, session.dirty, False)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    keys = session.info.pop(_SESSION_KEY, None)
    if keys:
        hub.publish(*keys)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)
