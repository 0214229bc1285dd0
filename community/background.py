"""The community package's modules with periodic tasks (see forge.background)."""

from __future__ import annotations

TASK_MODULES = ("community.notifications.fanout",)
