"""The ``forge`` command: the core's commands (``forge.cli``) plus those of the platform packages."""

from __future__ import annotations

from ci.cli import ci
from forge.cli import main

main.add_command(ci)

__all__ = ["main"]
