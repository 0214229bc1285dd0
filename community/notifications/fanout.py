"""Turning activity (forge.activity) into notifications and queued mail. (Scaffolding: the notifications work
fills this in.)"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from forge.background import periodic
from forge.settings import Settings


@periodic(3)
def sweep(engine: Engine, settings: Settings) -> None:
    """Fan out the activity not seen yet."""
