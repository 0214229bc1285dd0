"""Pull request pages: list, new pull request (compare and open), conversation and commits tabs."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
