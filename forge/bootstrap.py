"""Start-up shared by the CLI and the server: directories, migrations, hooks, engine."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from forge.db import migrate
from forge.db.engine import make_engine
from forge.git.hooks import install_hooks
from forge.settings import Settings


def prepare(settings: Settings, *, run_migrations: bool = True) -> Engine:
    settings.ensure_dirs()
    if run_migrations:
        migrate.upgrade(settings.effective_database_url)
    install_hooks(settings.hooks_dir)
    return make_engine(settings.effective_database_url)
