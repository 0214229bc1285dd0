"""Imports every table module so ``SQLModel.metadata`` is complete (Alembic and tests rely on it)."""

from sqlmodel import SQLModel

from forge.accounts import models as _accounts  # noqa: F401
from forge.repos import models as _repos  # noqa: F401

metadata = SQLModel.metadata
