"""Fixtures for the forge package's tests that read repositories straight from disk, without the live server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitclient import GitClient, Work


@pytest.fixture
def work(tmp_path: Path) -> Work:
    """An empty working repository on main, made with real git; its commits share one author and one date."""
    return GitClient(tmp_path).new_work("w")
