"""The last commit that changed each entry of a directory: the message-and-age column of a directory listing.

An entry's last commit is the newest commit, in the order of the path history page (``History.log``: topological,
then by time, from the listed commit), whose version of ``dir/entry`` differs from the version in every parent; a
root commit counts when it has the path. Asking ``History.log`` once per entry would walk the history once per
entry, so this walks it once for the whole directory:

* a commit whose directory tree id equals a parent's cannot have changed any entry, and costs one tree lookup;
* otherwise only the directory's own trees are compared, one level deep, and only for entries still unresolved;
* the walk stops as soon as every entry has its commit.

A huge directory on a long history can still take long (git itself needs a minute for a 25,000-file directory
that every commit of 20,000 changes), so a caller may pass a deadline: the result then says whether it is
complete, and the walk is kept, positioned where it stopped, so the next call for the same directory continues it
instead of starting over. Complete results go into the process-wide object cache, keyed by the commit id.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2

from forge.git.cache import objects
from forge.git.repository import CommitInfo, GitRepo, commit_info

# As in history.py: a directory whose oldest entries were never changed again is walked to the root commit, so the
# walk needs a bound on very long histories. Entries still unresolved past it are shown without a commit.
MAX_WALK = 200_000
# Walks left unfinished by a deadline, kept to be resumed. Each holds a repository handle and the walker's queue,
# so only a few are kept (not in the shared object cache, which holds hundreds of small results).
MAX_PENDING = 16
# Up to this many unresolved names are compared by looking each one up (a binary search in C); more than that and
# comparing whole trees is cheaper.
LOOKUP_LIMIT = 48
# Trees with more entries than this are compared by libgit2's tree diff (in C) rather than entry by entry in Python.
DIFF_ABOVE = 512
# Directory trees kept loaded between commits: in a linear history the parent's tree is the next commit's, and a
# merge needs one per parent. A paused walk lets go of them (a big directory's tree takes megabytes).
TREES_KEPT = 4

_SORT = pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME


@dataclass(frozen=True)
class LastCommits:
    """``commits`` maps entry names to the last commit that changed them. When ``complete`` is false the walk was
    cut short by the deadline and entries without a commit may still get one; when true, an entry missing from
    ``commits`` could not be attributed within MAX_WALK commits."""

    commits: dict[str, CommitInfo]
    complete: bool

    def get(self, name: str) -> CommitInfo | None:
        return self.commits.get(name)


class _Walk:
    """One walk over the history for one directory at one commit, resumable across calls (under ``lock``)."""

    def __init__(self, path: Path, commit_sha: str, dir_path: str) -> None:
        # Its own handle: the walk may be resumed by another request's thread, and libgit2 objects must not be used
        # by two threads at once; the lock makes sure only one thread uses this handle at a time.
        self.repo = pygit2.Repository(str(path))
        self.dir_path = dir_path
        self.lock = threading.Lock()
        self.found: dict[str, CommitInfo] = {}
        self.walked = 0
        self.done = False
        self._dir_ids: dict[pygit2.Oid, pygit2.Oid | None] = {}
        self._trees: OrderedDict[pygit2.Oid, pygit2.Tree] = OrderedDict()
        start = pygit2.Oid(hex=commit_sha)
        top = self._dir_id(start)
        self.unresolved: set[str] = {e.name or "" for e in self._tree(top)} if top is not None else set()
        self._commits: Iterator[pygit2.Commit] = iter(self.repo.walk(start, _SORT))
        if not self.unresolved:
            self.done = True

    # --- trees ---------------------------------------------------------------------------------------------
    def _dir_id(self, commit_id: pygit2.Oid) -> pygit2.Oid | None:
        """The id of the directory's tree in a commit, None when the commit has no such directory. Remembered
        until the commit itself is walked: every child comes before it in topological order, so by then no one
        asks again."""
        if commit_id in self._dir_ids:
            return self._dir_ids[commit_id]
        commit = self.repo[commit_id]
        assert isinstance(commit, pygit2.Commit)
        found: pygit2.Oid | None
        if not self.dir_path:
            found = commit.tree_id
        else:
            try:
                entry = commit.tree[self.dir_path]
            except KeyError:
                entry = None
            found = entry.id if entry is not None and entry.type_str == "tree" else None
        self._dir_ids[commit_id] = found
        return found

    def _tree(self, tree_id: pygit2.Oid) -> pygit2.Tree:
        tree = self._trees.get(tree_id)
        if tree is None:
            obj = self.repo[tree_id]
            assert isinstance(obj, pygit2.Tree)
            tree = obj
            self._trees[tree_id] = tree
            if len(self._trees) > TREES_KEPT:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(tree_id)
        return tree

    def _present(self, tree_id: pygit2.Oid, names: set[str]) -> set[str]:
        tree = self._tree(tree_id)
        if len(names) <= LOOKUP_LIMIT:
            return {n for n in names if n in tree}
        return {e.name or "" for e in tree} & names

    def _differing(self, mine: pygit2.Oid | None, theirs: pygit2.Oid | None, names: set[str]) -> set[str]:
        """The names whose entry differs between two versions of the directory (None: the directory is absent).
        As History._touches, an entry differs when its object id does; a file mode change alone does not count."""
        if mine is None:
            return self._present(theirs, names) if theirs is not None else set()
        if theirs is None:
            return self._present(mine, names)
        a, b = self._tree(mine), self._tree(theirs)
        if len(names) <= LOOKUP_LIMIT:
            return {n for n in names if _entry_id(a, n) != _entry_id(b, n)}
        if len(a) <= DIFF_ABOVE and len(b) <= DIFF_ABOVE:
            ours = {e.name: e.id for e in a}
            other = {e.name: e.id for e in b}
            return {n for n in names if ours.get(n) != other.get(n)}
        # libgit2 compares the two big trees in C; it also descends into changed subtrees, which is wasted but
        # bounded by what changed. Only the first path component matters here. The candidates are then checked
        # by id, so a mode-only change is not counted (as in History._touches).
        diff = b.diff_to_tree(a, flags=pygit2.enums.DiffOption.SKIP_BINARY_CHECK)
        firsts = set()
        for delta in diff.deltas:
            firsts.add((delta.new_file.path or delta.old_file.path).split("/", 1)[0])
            firsts.add(delta.old_file.path.split("/", 1)[0])
        return {n for n in firsts & names if _entry_id(a, n) != _entry_id(b, n)}

    # --- the walk ------------------------------------------------------------------------------------------
    def run(self, deadline: float | None) -> None:
        """Walk on until every entry is resolved, the history or MAX_WALK ends, or ``deadline`` (a
        ``time.monotonic()`` instant) passes. Call with ``lock`` held."""
        if self.done:
            return
        for commit in self._commits:
            self.walked += 1
            self._step(commit)
            if not self.unresolved or self.walked >= MAX_WALK:
                break
            if deadline is not None and time.monotonic() >= deadline:
                self._trees.clear()
                return
        self.done = True
        # Nothing more to walk: let go of the walker's queue and the loaded trees now, not when the LRU drops it.
        self._dir_ids.clear()
        self._trees.clear()

    def _step(self, commit: pygit2.Commit) -> None:
        mine = self._dir_id(commit.id)
        self._dir_ids.pop(commit.id, None)
        parents = commit.parent_ids
        if not parents:
            touched = self._present(mine, self.unresolved) if mine is not None else set()
        else:
            theirs = [self._dir_id(p) for p in parents]
            if mine in theirs:
                return  # the directory is as in one parent, so no entry differs from every parent
            touched = self.unresolved
            for other in theirs:
                touched = self._differing(mine, other, touched)
                if not touched:
                    return
        if touched:
            info = commit_info(commit)
            for name in touched:
                self.found[name] = info
            self.unresolved -= touched

    def snapshot(self) -> LastCommits:
        # dict() copies in one C call under the GIL, so a reader never sees a half-updated mapping.
        return LastCommits(dict(self.found), self.done)


def _entry_id(tree: pygit2.Tree, name: str) -> pygit2.Oid | None:
    try:
        return tree[name].id
    except KeyError:
        return None


_pending: OrderedDict[Hashable, _Walk] = OrderedDict()
_pending_lock = threading.Lock()


def _pending_walk(key: Hashable, path: Path, commit_sha: str, dir_path: str) -> _Walk:
    with _pending_lock:
        walk = _pending.get(key)
        if walk is not None:
            _pending.move_to_end(key)
            return walk
    # Opening the walk reads the directory; do it outside the registry lock. Two threads racing here both build a
    # walk and the second one registered wins; the other is used once and dropped.
    walk = _Walk(path, commit_sha, dir_path)
    with _pending_lock:
        walk = _pending.setdefault(key, walk)
        _pending.move_to_end(key)
        while len(_pending) > MAX_PENDING:
            _pending.popitem(last=False)
    return walk


def last_commits(git: GitRepo, commit_sha: str, path: str, deadline: float | None = None) -> LastCommits:
    """The last commit of each entry of directory ``path`` ("" for the root) at ``commit_sha`` (a full id).

    With ``deadline`` (a ``time.monotonic()`` instant) the walk stops when it passes and the result may be
    incomplete; a later call continues where this one stopped. A path that is not a directory has no entries."""
    path = path.strip("/")
    key = ("last-commits", str(git.path), commit_sha, path)
    cached = objects.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    walk = _pending_walk(key, git.path, commit_sha, path)
    # Another request may be walking this directory right now: wait for it, but never past our own deadline.
    timeout = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
    if walk.lock.acquire(timeout=timeout):
        try:
            walk.run(deadline)
        finally:
            walk.lock.release()
    result = walk.snapshot()
    if result.complete:
        objects.put(key, result, len(result.commits))
        with _pending_lock:
            if _pending.get(key) is walk:
                del _pending[key]
    return result
