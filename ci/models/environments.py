"""Environments and their deployments."""

from __future__ import annotations
