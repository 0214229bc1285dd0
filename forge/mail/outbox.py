"""Queueing mail and delivering the queue over SMTP with retries. (Scaffolding: the notifications work fills
this in.)"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from forge.background import periodic
from forge.settings import Settings


@periodic(5)
def deliver_due(engine: Engine, settings: Settings) -> None:
    """Send the messages whose next attempt is due."""
