"""(Stub: issue 5.) Routes of this CI delivery feature; registered in web/routes/__init__.py."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
