"""Periodic work inside each server worker (outbox sweeps, reapers, mail delivery).

Modules register their tasks with ``@periodic(seconds)``; ``start`` imports the modules it is given (so their
decorators have run) and runs every registered task on one APScheduler background scheduler. Every task must be
safe to run in several workers at once (each claims its rows with conditional updates or unique inserts), so no
leader election is needed. Each package lists its own task modules (``TASK_MODULES`` here, in ci.background and
in community.background); the application entry passes them all.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from forge.settings import Settings

log = logging.getLogger(__name__)

Task = Callable[[Engine, Settings], None]

# The core's modules with periodic tasks.
TASK_MODULES = ("forge.push_processing", "forge.mail.outbox", "forge.pulls.auto_merge", "forge.webhooks.delivery",
                "forge.webhooks.fanout")


@dataclass(frozen=True)
class _Registered:
    name: str
    seconds: float
    fn: Task


_TASKS: list[_Registered] = []


def periodic(seconds: float) -> Callable[[Task], Task]:
    """Run the decorated ``fn(engine, settings)`` every ``seconds`` once ``start`` is called."""

    def register(fn: Task) -> Task:
        _TASKS.append(_Registered(f"{fn.__module__}.{fn.__qualname__}", seconds, fn))
        return fn

    return register


def _guarded(task: _Registered, engine: Engine, settings: Settings) -> Callable[[], None]:
    def run() -> None:
        try:
            task.fn(engine, settings)
        except Exception:  # a failing sweep must not stop the scheduler; the next run tries again
            log.exception("periodic task %s failed", task.name)

    return run


def start(engine: Engine, settings: Settings, modules: Iterable[str]) -> BackgroundScheduler:
    for module in modules:
        importlib.import_module(module)
    scheduler = BackgroundScheduler(daemon=True)
    seen: set[str] = set()
    for task in _TASKS:
        if task.name in seen:
            continue
        seen.add(task.name)
        scheduler.add_job(_guarded(task, engine, settings), "interval", seconds=task.seconds, id=task.name,
                          max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
