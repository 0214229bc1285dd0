"""Translation markers for the core.

The core never translates: it marks English source strings with ``N_`` so that Babel extracts them, and the web
layer translates them for the reader's locale when it renders (see ``web/i18n.py``).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here."""
    return message
