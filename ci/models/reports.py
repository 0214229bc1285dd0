"""Test reports: JUnit test cases per job and per-job totals."""

from __future__ import annotations
