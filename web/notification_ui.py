"""Template helpers for notifications that appear on every page: the unread count in the top bar and the watch
control in the repository header.

Both are template globals evaluated while the page renders, one small indexed query each, only for a signed-in
user (and the watch state only on repository pages). They run in the rendering thread; a database error yields an
empty value rather than a broken page.
"""

from __future__ import annotations

import logging
from typing import Any

from jinja2 import pass_context
from sqlalchemy.exc import SQLAlchemyError

from community.notifications import inbox, watches
from forge.db.engine import session_scope
from web.state import app_state

log = logging.getLogger("forge.web")


def _engine(ctx: Any) -> Any:
    request = ctx.get("request")
    return app_state(request).engine if request is not None else None


@pass_context
def unread_notifications(ctx: Any) -> int:
    """The signed-in user's unread notification count (0 for visitors)."""
    user = ctx.get("user")
    engine = _engine(ctx)
    if user is None or user.id is None or engine is None:
        return 0
    try:
        with session_scope(engine) as session:
            return inbox.unread_count(session, user.id)
    except SQLAlchemyError:
        log.warning("could not count unread notifications", exc_info=True)
        return 0


@pass_context
def watch_state(ctx: Any, repo: Any) -> dict[str, Any] | None:
    """For the repository header: the viewer's watch level (chosen or default) and the number of watchers;
    None for visitors."""
    user = ctx.get("user")
    engine = _engine(ctx)
    if user is None or user.id is None or engine is None or repo is None:
        return None
    try:
        with session_scope(engine) as session:
            chosen = watches.watch_level(session, user.id, repo.id)
            level = chosen or watches.effective_level(session, user.id, repo)
            return {"level": level, "chosen": chosen is not None, "count": watches.watcher_count(session, repo)}
    except SQLAlchemyError:
        log.warning("could not read the watch state", exc_info=True)
        return None
