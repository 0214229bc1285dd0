"""The commit count on a repository's home page, cached per commit.

Counting walks the whole history (a fifth of a second for 20,000 commits), and the number of commits reachable
from a given commit can never change, so it is counted once per commit and process.
"""

from __future__ import annotations

from forge.git.cache import objects
from forge.git.repository import GitRepo

# Counting stops here: a longer history would hold the first visit to the page for seconds. The page then says
# "100000+ commits" (see ``is_capped``).
COUNT_LIMIT = 100_000


def commit_count(git: GitRepo, commit_sha: str) -> int:
    """Commits reachable from ``commit_sha`` (a full id), at most COUNT_LIMIT."""
    key = ("commit-count", str(git.path), commit_sha)
    return objects.get_or_compute(key, lambda: git.commit_count(commit_sha, limit=COUNT_LIMIT))


def is_capped(count: int) -> bool:
    """Whether ``count`` stopped at the limit, so the real number is at least that."""
    return count >= COUNT_LIMIT
