"""Site-wide settings that administrators change at run time (stored in the database)."""

from __future__ import annotations

from sqlmodel import Session

from forge.accounts.models import SiteSetting
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.settings import Settings

SIGNUP_MODES = ("open", "approval", "closed")


def _get(session: Session, key: str) -> str | None:
    row = session.get(SiteSetting, key)
    return row.value if row else None


def _set(session: Session, key: str, value: str) -> None:
    row = session.get(SiteSetting, key) or SiteSetting(key=key)
    row.value = value
    session.add(row)


def signup_mode(session: Session, settings: Settings) -> str:
    return _get(session, "signup") or settings.signup


def set_signup_mode(session: Session, mode: str) -> None:
    if mode not in SIGNUP_MODES:
        raise InvalidInput(N_("Sign-up mode must be open, approval or closed."))
    _set(session, "signup", mode)
