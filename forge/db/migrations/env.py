"""Alembic environment: runs migrations against the URL set by forge.db.migrate."""

from __future__ import annotations

from alembic import context

# The schema has one migration history for every package's tables. This script is loaded by Alembic from its path,
# not imported as part of the forge package, so naming the platform packages' models here does not make the core
# depend on them (the import-linter contracts cover forge's modules, which never import ci).
import ci.models  # noqa: F401  (registers the CI tables)
import community.notifications.models  # noqa: F401  (registers the community tables)
from forge.db.engine import make_engine
from forge.db.registry import metadata

config = context.config


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
