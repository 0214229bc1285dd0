"""Which paths a push changed, and which files a commit holds: what CI's ``rules:changes`` and ``rules:exists``
look at. Both are bounded: past the limit the answer is None ("too many to tell"), which CI treats as "matches",
like GitLab does for pushes that change more files than it inspects.
"""

from __future__ import annotations

import pygit2

from forge.git.repository import GitRepo

MAX_CHANGED = 50_000
MAX_LISTED_PATHS = 100_000


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit | None:
    try:
        obj = repo.get(sha)
        return obj.peel(pygit2.Commit) if obj is not None else None
    except (ValueError, KeyError, pygit2.GitError):
        return None


def changed_paths(git: GitRepo, old_sha: str, new_sha: str, limit: int = MAX_CHANGED) -> tuple[str, ...] | None:
    """Paths (old and new names of renames both) that differ between commits ``old_sha`` and ``new_sha``; None
    when either commit is missing or more than ``limit`` paths changed."""
    repo = pygit2.Repository(str(git.path))
    old, new = _commit(repo, old_sha), _commit(repo, new_sha)
    if old is None or new is None:
        return None
    # Only the deltas are read (no patches are made), so this is cheap even for large pushes.
    diff = old.tree.diff_to_tree(new.tree)
    if len(diff) > limit:
        return None
    paths: set[str] = set()
    for delta in diff.deltas:
        for path in (delta.old_file.path, delta.new_file.path):
            if path:
                paths.add(path)
    return tuple(sorted(paths))


def merge_base(git: GitRepo, a: str, b: str) -> str | None:
    """The best common ancestor of commits ``a`` and ``b``; None when unrelated or either is missing."""
    repo = pygit2.Repository(str(git.path))
    ca, cb = _commit(repo, a), _commit(repo, b)
    if ca is None or cb is None:
        return None
    found = repo.merge_base(ca.id, cb.id)
    return str(found) if found is not None else None


def file_paths(git: GitRepo, sha: str, limit: int = MAX_LISTED_PATHS) -> frozenset[str] | None:
    """Every file path (blobs and links, recursively) in commit ``sha``; None when missing or past ``limit``."""
    repo = pygit2.Repository(str(git.path))
    commit = _commit(repo, sha)
    if commit is None:
        return None
    found: set[str] = set()
    stack: list[tuple[str, pygit2.Tree]] = [("", commit.tree)]
    while stack:
        prefix, tree = stack.pop()
        for entry in tree:
            path = prefix + (entry.name or "")
            if entry.type_str == "tree":
                sub = repo.get(entry.id)
                if isinstance(sub, pygit2.Tree):
                    stack.append((path + "/", sub))
            elif entry.type_str == "blob":
                found.add(path)
                if len(found) > limit:
                    return None
    return frozenset(found)
