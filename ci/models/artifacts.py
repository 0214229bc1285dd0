"""Artifacts and caches: archives and reports uploaded by runners, cache archives per repository."""

from __future__ import annotations
