"""Running an outbox consumer right now, on a background thread, instead of waiting for its periodic sweep.

A request that recorded work (a push, an activity row) should see it handled within moments, but must not wait
for it: ``Kicker.kick`` starts one thread per engine, and kicks that arrive while it runs make it run once more
rather than start more threads (the work handles everything pending, so one more pass covers them all).
``KickAfterCommit`` kicks automatically after every transaction that added rows of the watched models, so no
handler has to remember to. The periodic sweep stays the safety net for anything a kick misses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from forge.settings import Settings

Work = Callable[[Engine, Settings], object]


class Kicker:
    def __init__(self, name: str, work: Work, log: logging.Logger) -> None:
        self.name = name
        self.work = work
        self.log = log
        self._lock = threading.Lock()
        self._state: dict[int, str] = {}  # engine id -> "running" / "again"

    def kick(self, engine: Engine, settings: Settings) -> None:
        """Run the work for ``engine`` on a background thread now (or once more after the current run)."""
        key = id(engine)
        with self._lock:
            if key in self._state:
                self._state[key] = "again"
                return
            self._state[key] = "running"
        threading.Thread(target=self._loop, args=(engine, settings), name=self.name, daemon=True).start()

    def _loop(self, engine: Engine, settings: Settings) -> None:
        key = id(engine)
        try:
            while True:
                try:
                    self.work(engine, settings)
                except Exception:  # the periodic sweep tries again in a moment
                    self.log.exception("%s failed", self.name)
                with self._lock:
                    if self._state.get(key) != "again":
                        self._state.pop(key, None)
                        return
                    self._state[key] = "running"
        except BaseException:
            with self._lock:
                self._state.pop(key, None)
            raise


class KickAfterCommit:
    """Kick ``kicker`` after each commit, on an installed engine, of a transaction that added a ``watched`` row."""

    def __init__(self, kicker: Kicker, watched: tuple[type, ...]) -> None:
        self.kicker = kicker
        self.watched = watched
        self._key = f"forge_kick_{kicker.name}"
        self._installed: dict[int, tuple[Engine, Settings]] = {}
        self._listening = False

    def install(self, engine: Engine, settings: Settings) -> None:
        self._installed[id(engine)] = (engine, settings)
        if not self._listening:
            self._listening = True
            event.listen(OrmSession, "before_flush", self._note)
            event.listen(OrmSession, "after_commit", self._kick_if_noted)
            event.listen(OrmSession, "after_soft_rollback", self._forget)

    def uninstall(self, engine: Engine) -> None:
        self._installed.pop(id(engine), None)

    def _note(self, session: OrmSession, _context: Any, _instances: Any) -> None:
        if any(isinstance(obj, self.watched) for obj in session.new):
            session.info[self._key] = True

    def _kick_if_noted(self, session: OrmSession) -> None:
        if not session.info.pop(self._key, False):
            return
        bind = session.get_bind()
        target = self._installed.get(id(bind)) if isinstance(bind, Engine) else None
        if target is not None:
            self.kicker.kick(*target)

    def _forget(self, session: OrmSession, _previous: Any) -> None:
        if not session.in_transaction():
            session.info.pop(self._key, None)
