"""The commit count on a repository's home page, cached per commit.

Counting walks the whole history (a fifth of a second for 20,000 commits), and the number of commits reachable
from a given commit can never change, so it is counted once per commit and process.
"""

from __future__ import annotations

from forge.git.cache import objects
from forge.git.repository import GitRepo


def commit_count(git: GitRepo, commit_sha: str) -> int:
    """Commits reachable from ``commit_sha`` (a full id)."""
    key = ("commit-count", str(git.path), commit_sha)
    return objects.get_or_compute(key, lambda: git.commit_count(commit_sha))
