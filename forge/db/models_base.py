"""Shared helpers for table definitions."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware UTC; SQLModel's UTCDateTime columns store and return aware values on every database."""
    return datetime.now(UTC)
