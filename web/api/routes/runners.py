"""API: runners (filled in by its owner; see docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
