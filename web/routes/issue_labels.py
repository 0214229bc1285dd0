"""Labels and milestones pages of a repository (and an organisation's labels)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
