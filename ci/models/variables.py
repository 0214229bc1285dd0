"""CI/CD variables of repositories and organisations (values encrypted at rest)."""

from __future__ import annotations
