"""Issue pages: list with filters, new issue, the issue conversation and its actions."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
