"""Periodic CI housekeeping inside each server worker: the push-event sweep and the "runner lost" reaper.

Modules register their tasks with ``@periodic(seconds)``; ``start`` runs them all on one APScheduler background
scheduler. Every task must be safe to run in several workers at once (they all are: each claims its rows with
conditional updates or unique inserts), so no leader election is needed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from forge.settings import Settings

log = logging.getLogger(__name__)

Task = Callable[[Engine, Settings], None]


@dataclass(frozen=True)
class _Registered:
    name: str
    seconds: float
    fn: Task


_TASKS: list[_Registered] = []
# Modules that register tasks; imported by ``start`` so their decorators have run.
TASK_MODULES = (
    "ci.triggers", "ci.dispatch", "ci.schedules", "ci.lifecycle", "ci.artifacts", "ci.environments", "ci.test_reports",
)


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


def start(engine: Engine, settings: Settings) -> BackgroundScheduler:
    for module in TASK_MODULES:
        importlib.import_module(module)
    scheduler = BackgroundScheduler(daemon=True)
    for task in _TASKS:
        scheduler.add_job(_guarded(task, engine, settings), "interval", seconds=task.seconds, id=task.name,
                          max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
