"""Handling the rows of an outbox table exactly once per consumer.

Push events and activity rows are outboxes: each consumer (CI's push pipelines, the core's pull request
bookkeeping, merge request pipelines, notifications) keeps its own "seen" table keyed by the row id and claims a row
by inserting into it first, in the same transaction as the work. A second worker handling the same row blocks on
that primary key and then fails with IntegrityError, so the work happens once. This module is the loop around that
claim, shared so every consumer treats a busy database, a lost race and a bug the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from forge.db.engine import session_scope

Row = TypeVar("Row")


def consume(
    engine: Engine,
    ids: list[int],
    *,
    load: Callable[[Session, int], Row | None],
    handle: Callable[[Session, Row], object],
    mark_failed: Callable[[Session, int], None],
    log: logging.Logger,
    what: str,
) -> int:
    """Handle each row of ``ids`` in its own transaction; returns how many this call handled.

    ``load`` returns the row, or None when it is gone or this consumer has seen it; ``handle`` claims it (inserting
    the seen row first) and does the work. A lost race (IntegrityError) skips the row; a busy or unreachable
    database (OperationalError) leaves it for the next sweep; any other error is logged and the row is marked with
    ``mark_failed`` so a row that always fails (a bug, a repository missing on disk) is not retried forever."""
    handled = 0
    for row_id in ids:
        try:
            with session_scope(engine) as session:
                row = load(session, row_id)
                if row is None:
                    continue
                handle(session, row)
            handled += 1
        except IntegrityError:
            continue  # another worker has it
        except OperationalError:
            log.warning("%s %s could not be handled yet", what, row_id, exc_info=True)
        except Exception:
            log.exception("handling %s %s failed", what, row_id)
            try:
                with session_scope(engine) as session:
                    mark_failed(session, row_id)
            except IntegrityError:
                pass
    return handled
