"""Extract every translatable string and update the zh_CN and en catalogs (keeping existing translations).

    python scripts/i18n.py          # refresh web/translations/*/LC_MESSAGES/messages.po
    python scripts/i18n.py --check  # exit 1 listing strings that have no zh_CN translation
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "web" / "translations"
LOCALES = ("zh_CN", "en")
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
METHOD_MAP = [
    ("forge/**.py", "python"),
    ("web/**.py", "python"),
    ("ci/**.py", "python"),
    ("community/**.py", "python"),
    ("web/templates/**.html", "jinja2"),
]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    template = Catalog(project="forge", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), METHOD_MAP, OPTIONS, KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
    ):
        if filename.startswith(("tests", "bench", ".venv", "scripts")):
            continue
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = po_path(locale)
    if path.exists():
        with path.open("rb") as fh:
            return read_po(fh, locale=locale)
    return Catalog(locale=locale, project="forge", charset="utf-8")


def update() -> None:
    template = extract()
    for locale in LOCALES:
        catalog = load(locale)
        catalog.update(template, no_fuzzy_matching=True)
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=120, omit_header=False, ignore_obsolete=True, sort_output=True)
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages")


def missing(locale: str = "zh_CN") -> list[str]:
    catalog = load(locale)
    result = []
    for message in extract():
        if not message.id:
            continue
        found = catalog.get(message.id)
        empty = found is None or not found.string
        if empty or (isinstance(found.string, tuple) and not all(found.string)) or found.fuzzy:
            result.append(message.id if isinstance(message.id, str) else message.id[0])
    return result


if __name__ == "__main__":
    if "--check" in sys.argv:
        todo = missing()
        for msg in todo:
            print(f"untranslated: {msg!r}")
        sys.exit(1 if todo else 0)
    update()
