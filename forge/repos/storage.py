"""Where repositories live on disk: ``$FORGE_HOME/repos/<owner>/<name>.git`` (lower-cased).

The resolver refuses any path that would land outside the repositories root, whatever the names contain.
"""

from __future__ import annotations

import os
from pathlib import Path

from forge.errors import InvalidInput
from forge.i18n import N_


def repo_path(repos_root: Path, owner_name: str, repo_name: str) -> Path:
    root = repos_root.resolve()
    path = (root / owner_name.lower() / f"{repo_name.lower()}.git").resolve()
    if path.parent.parent != root:
        raise InvalidInput(N_("Invalid repository path."))
    return path


def move_repo_dir(src: Path, dst: Path) -> None:
    if dst.exists():
        raise InvalidInput(N_("A repository directory already exists at the destination."))
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
