"""Guards on the templates themselves."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


def test_csrf_macro_is_imported_with_context() -> None:
    """The csrf() macro reads the page's csrf_token; imported without context it renders an empty token and every
    form on the page fails in a real browser."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        for line in path.read_text().splitlines():
            if re.search(r'import [^%]*\bcsrf\b', line) and "with context" not in line:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {line.strip()}")
    assert not offenders, offenders


def test_every_post_form_has_a_csrf_field() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", text, flags=re.S | re.I):
            if "csrf()" not in form and "csrf_token" not in form:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {form[:80]}")
    assert not offenders, offenders
