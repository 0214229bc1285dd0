"""The notification inbox, watching repositories and notification preferences."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
