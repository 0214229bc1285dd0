"""Job lifecycle: resource groups (one job at a time per group)."""

from __future__ import annotations
