"""Imports every table module so ``SQLModel.metadata`` is complete (Alembic and tests rely on it)."""

from sqlmodel import SQLModel

from forge import activity as _activity  # noqa: F401
from forge.accounts import models as _accounts  # noqa: F401
from forge.issues import models as _issues  # noqa: F401
from forge.mail import models as _mail  # noqa: F401
from forge.pulls import models as _pulls  # noqa: F401
from forge.repos import models as _repos  # noqa: F401
from forge.webhooks import models as _webhooks  # noqa: F401

metadata = SQLModel.metadata
