"""CI's periodic tasks (the push-event sweep, dispatch, the "runner lost" reaper, expiry...).

The scheduler itself is the core's (forge.background); this lists CI's modules that register tasks with
``@periodic`` so the application entry starts them.
"""

from __future__ import annotations

from forge.background import periodic

__all__ = ["TASK_MODULES", "periodic"]

TASK_MODULES = (
    "ci.triggers", "ci.dispatch", "ci.schedules", "ci.lifecycle", "ci.artifacts", "ci.environments", "ci.test_reports",
    "ci.merge_requests",
)
