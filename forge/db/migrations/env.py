"""Alembic environment: runs migrations against the URL set by forge.db.migrate."""

from __future__ import annotations

from alembic import context

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
