"""The commits a push brought, with the files each one touched: what a webhook's push payload lists.

Like GitHub, a push lists at most ``limit`` commits (the newest ones, oldest first) and counts the rest up to a
cap; a new branch lists the commits no other given ref already had (usually the default branch), so pushing a
topic branch does not list the whole history again.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from forge.git.repository import ZERO_SHA, CommitInfo, GitRepo, commit_info

COUNT_CAP = 10_000  # past this "total_commits" stops counting (a mirror push of a huge history)


@dataclass(frozen=True)
class PushedCommit:
    info: CommitInfo
    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[str, ...]


@dataclass(frozen=True)
class PushedCommits:
    commits: list[PushedCommit]  # oldest first, the newest ``limit``
    total: int  # all the new commits (capped at COUNT_CAP)


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit | None:
    if not sha or sha == ZERO_SHA:
        return None
    try:
        obj = repo.get(sha)
        return obj.peel(pygit2.Commit) if obj is not None else None
    except (ValueError, KeyError, pygit2.GitError):
        return None


def _files(repo: pygit2.Repository, commit: pygit2.Commit) -> tuple[tuple[str, ...], ...]:
    """(added, removed, modified) against the first parent (everything added for a root commit)."""
    parent_tree = commit.parents[0].tree if commit.parents else None
    diff = parent_tree.diff_to_tree(commit.tree) if parent_tree is not None else commit.tree.diff_to_tree(swap=True)
    diff.find_similar()
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []
    for delta in diff.deltas:
        status = delta.status_char()
        if status == "A":
            added.append(delta.new_file.path)
        elif status == "D":
            removed.append(delta.old_file.path)
        elif status == "R":  # GitHub lists a rename as the old path removed and the new one added
            removed.append(delta.old_file.path)
            added.append(delta.new_file.path)
        else:
            modified.append(delta.new_file.path)
    return tuple(added), tuple(removed), tuple(modified)


def pushed_commits(git: GitRepo, old_sha: str, new_sha: str, *, exclude: tuple[str, ...] = (),
                   limit: int = 20) -> PushedCommits:
    """The commits reachable from ``new_sha`` but not from ``old_sha`` nor from the commits ``exclude`` (shas of
    other refs, for a new branch). Empty for a deletion or when ``new_sha`` is missing."""
    repo = pygit2.Repository(str(git.path))
    new = _commit(repo, new_sha)
    if new is None:
        return PushedCommits([], 0)
    walker = repo.walk(new.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    for sha in (old_sha, *exclude):
        hidden = _commit(repo, sha)
        if hidden is not None:
            walker.hide(hidden.id)
    newest: list[pygit2.Commit] = []
    total = 0
    for commit in walker:
        if total < limit:
            newest.append(commit)
        total += 1
        if total >= COUNT_CAP:
            break
    listed = [PushedCommit(commit_info(c), *_files(repo, c)) for c in reversed(newest)]
    return PushedCommits(listed, total)


def is_ancestor(git: GitRepo, ancestor: str, descendant: str) -> bool:
    """Whether ``ancestor`` is reachable from ``descendant`` (a push that is not forced); False when either is
    missing."""
    repo = pygit2.Repository(str(git.path))
    a, d = _commit(repo, ancestor), _commit(repo, descendant)
    if a is None or d is None:
        return False
    return a.id == d.id or bool(repo.descendant_of(d.id, a.id))
