"""Alembic driven from code, so `forge migrate`, the tests and CI share one configuration."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in passwords would be read as interpolation by configparser.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models differ from what the migrations build (alembic check)."""
    command.check(alembic_config(database_url))


def heads(database_url: str = "sqlite://") -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
