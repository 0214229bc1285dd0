"""Pipeline schedules and trigger tokens."""

from __future__ import annotations
