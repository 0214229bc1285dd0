"""A pull request's files tab: the diff with viewed checkboxes, review comments, threads and suggestions."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
