"""The ``forge`` command: the core's commands (``forge.cli``) plus those of the platform packages."""

from __future__ import annotations

from app.api_client import api
from app.local_runner import local_runner
from ci.cli import ci
from forge.cli import main

ci.add_command(local_runner)
main.add_command(ci)
main.add_command(api)

__all__ = ["main"]
