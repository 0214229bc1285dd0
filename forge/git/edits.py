"""Writing one file change as a new commit, without a working tree.

The commit is built object by object (blob, the trees on the path up to the root, the commit) on top of the
branch tip the caller read; no ref moves here. The caller moves the branch with a compare-and-swap
(forge.pulls.gitops.update_ref), so a push or another edit that landed in between is never overwritten; objects
of a commit that lost the race are left unreferenced for git gc.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from forge.errors import InvalidInput
from forge.git.repository import CommitInfo, GitRepo, TreeEntry, commit_info
from forge.i18n import N_

_EDITABLE_MODES = (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE)


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class Written:
    """The new commit (not yet on any branch) and the file's blob in it (None after a deletion)."""

    commit: CommitInfo
    blob_sha: str | None
    size: int


def _raw(git: GitRepo) -> pygit2.Repository:
    # forge.git is the one package that holds pygit2; this module writes through GitRepo's handle.
    return git._repo


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    obj = repo.get(sha)
    assert isinstance(obj, pygit2.Commit), sha
    return obj


def entry_at(git: GitRepo, commit_sha: str | None, path: str) -> TreeEntry | None:
    """The entry at ``path`` in commit ``commit_sha`` (None for no commit or no such path). A path running
    through a file ("README/x") has no entry either."""
    if commit_sha is None:
        return None
    try:
        entry = _commit(_raw(git), commit_sha).tree[path]
    except (KeyError, ValueError, pygit2.GitError):
        return None
    kind = "link" if entry.filemode == pygit2.enums.FileMode.LINK else str(entry.type_str)
    return TreeEntry(entry.name or "", kind, str(entry.id), int(entry.filemode))


def _replace(repo: pygit2.Repository, tree: pygit2.Tree | None, parts: list[str],
             blob: pygit2.Oid | None) -> pygit2.Oid | None:
    """The id of ``tree`` with ``parts`` set to ``blob`` (None removes it); None when the tree ends up empty,
    since git does not keep empty directories."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    name, rest = parts[0], parts[1:]
    existing = builder.get(name)
    if not rest:
        if blob is None:
            builder.remove(name)
        else:
            mode = existing.filemode if existing is not None and existing.filemode in _EDITABLE_MODES \
                else pygit2.enums.FileMode.BLOB
            builder.insert(name, blob, mode)
    else:
        sub: pygit2.Tree | None = None
        if existing is not None:
            if existing.type_str != "tree":
                raise InvalidInput(N_("“%(name)s” is a file, so it cannot contain other files."), name=name)
            found = repo.get(existing.id)
            assert isinstance(found, pygit2.Tree)
            sub = found
        new_sub = _replace(repo, sub, rest, blob)
        if new_sub is None:
            builder.remove(name)
        else:
            builder.insert(name, new_sub, pygit2.enums.FileMode.TREE)
    return builder.write() if len(builder) else None


def commit_file(git: GitRepo, parent_sha: str | None, path: str, content: bytes | None, *, message: str,
                author: Identity, committer: Identity) -> Written:
    """Write a commit whose tree is ``parent_sha``'s with ``path`` set to ``content`` (None deletes it); a
    root commit when ``parent_sha`` is None. No ref is changed. The caller has checked
    that ``path`` is a valid, editable path."""
    repo = _raw(git)
    parent = _commit(repo, parent_sha) if parent_sha is not None else None
    blob = repo.create_blob(content) if content is not None else None
    tree = _replace(repo, parent.tree if parent is not None else None, path.split("/"), blob)
    if tree is None:
        tree = repo.TreeBuilder().write()
    new = repo.create_commit(
        None,
        pygit2.Signature(author.name, author.email),
        pygit2.Signature(committer.name, committer.email),
        message,
        tree,
        [parent.id] if parent is not None else [],
    )
    return Written(commit_info(_commit(repo, str(new))), str(blob) if blob is not None else None,
                   len(content) if content is not None else 0)
