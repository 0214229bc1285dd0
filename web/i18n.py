"""Translations for the web layer: Babel catalogs, locale negotiation, and formatting helpers.

Catalogs are the ``.po`` files under ``web/translations``; they are compiled in memory at start-up, so there is no
build step and no binary ``.mo`` file in the tree. The locale of a request is, in order: the signed-in user's
setting, the ``forge_locale`` cookie (the language switcher for anonymous visitors), the browser's
``Accept-Language``, then ``Settings.default_locale``.
"""

from __future__ import annotations

import contextvars
import gettext as gettext_module
import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "简体中文", "en": "English"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("forge_locale", default="en")


@cache
def translations(locale: str) -> gettext_module.NullTranslations:
    po = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def set_locale(locale: str) -> None:
    _current.set(locale if locale in LOCALES else "en")


def get_locale() -> str:
    return _current.get()


def gettext(message: str, **params: Any) -> str:
    text = translations(get_locale()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


def raw_gettext(message: str) -> str:
    """The translation alone: Jinja's newstyle gettext substitutes the template's variables itself."""
    return translations(get_locale()).gettext(message)


def raw_ngettext(singular: str, plural: str, n: int) -> str:
    """The translated singular or plural alone, for Jinja, which substitutes ``num`` and the other variables."""
    return translations(get_locale()).ngettext(singular, plural, n)


def negotiate(user_locale: str, cookie_locale: str, accept_language: str, default: str) -> str:
    for choice in (user_locale, cookie_locale):
        if choice in LOCALES:
            return choice
    preferred = []
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            preferred.append(tag)
    found = negotiate_locale(preferred, [*LOCALES, "zh"], sep="_") if preferred else None
    if found == "zh":
        found = "zh_CN"
    if found in LOCALES:
        return found
    return default if default in LOCALES else "en"


@cache
def _parsed_locale(code: str) -> Locale:
    return Locale.parse(code)


def babel_locale() -> Locale:
    # Locale.parse re-reads its data on every call; a page with hundreds of dates (blame, history) paid for it
    # each time. Only the few LOCALES ever reach here, so the cache stays tiny.
    return _parsed_locale(get_locale())


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, "medium", locale=babel_locale())


def fmt_ago(value: datetime | None) -> str:
    """'3 hours ago' in the reader's language."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime.now(UTC)
    return format_timedelta(delta, add_direction=True, locale=babel_locale())
