"""Merging a pull request, auto-merge, deleting its branch and resolving a conflict in the browser."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
