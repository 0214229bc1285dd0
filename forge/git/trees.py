"""Reading trees and files at a ref and path, for the code browser and raw downloads.

URLs put the ref and the path in one string (``release/1.0/src/app.py``), and branch and tag names may contain
"/", so ``resolve`` splits them by finding the longest leading part that names a branch or tag, falling back to a
commit id in the first segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygit2

from forge.errors import NotFound
from forge.git.repository import CommitInfo, GitRepo, TreeEntry, commit_info
from forge.i18n import N_

MAX_SHOWN_BYTES = 1024 * 1024
README_PREFERENCE = ("readme.md", "readme.markdown", "readme", "readme.txt", "readme.rst")
_SHA_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")


@dataclass(frozen=True)
class Location:
    """A ref and a path inside its tree, as found in a URL."""

    ref: str  # the branch, tag or commit id as written in the URL
    commit: CommitInfo
    path: str  # "" for the root, never with leading or trailing "/"
    kind: str = ""  # what ``ref`` names: "branch", "tag" or "commit" ("" when the caller did not say)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


@dataclass(frozen=True)
class FileInfo:
    """One non-directory entry: a file, a symbolic link or a submodule."""

    path: str
    name: str
    kind: str  # "blob", "link" or "commit" (submodule)
    sha: str
    mode: int
    size: int
    data: bytes | None  # None for submodules and for files larger than the caller's limit
    is_binary: bool

    @property
    def too_large(self) -> bool:
        return self.kind == "blob" and self.data is None

    @property
    def link_target(self) -> str | None:
        if self.kind != "link" or self.data is None:
            return None
        return self.data.decode("utf-8", "replace")

    def text(self) -> str:
        """The content as text; bytes that are not UTF-8 become replacement characters."""
        return (self.data or b"").decode("utf-8", "replace")


def _raw(git: GitRepo) -> pygit2.Repository:
    # forge.git is the one package that holds pygit2; the trees module reads through GitRepo's handle.
    return git._repo


def _peel_commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit | None:
    try:
        obj = repo.revparse_single(rev)
        return obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None


def resolve(git: GitRepo, ref_and_path: str) -> Location:
    """Split ``ref_and_path`` into an existing branch, tag or commit and the path after it.

    The longest leading run of segments that names a branch (then a tag) wins, so ``release/1.0/docs`` on a
    repository with branch ``release/1.0`` is the ``docs`` directory of that branch. Raises NotFound naming the
    ref when nothing matches."""
    parts = [p for p in ref_and_path.split("/") if p]
    if not parts:
        raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=ref_and_path)
    repo = _raw(git)
    refs = repo.references
    for end in range(len(parts), 0, -1):
        name = "/".join(parts[:end])
        for kind, full in (("branch", f"refs/heads/{name}"), ("tag", f"refs/tags/{name}")):
            if full in refs:
                commit = _peel_commit(repo, full)
                if commit is not None:
                    return Location(name, commit_info(commit), "/".join(parts[end:]), kind)
    # Only plain hex is taken as a commit id: revparse would also accept "main~2" or "HEAD@{1}" and the like.
    if _SHA_RE.match(parts[0]):
        commit = _peel_commit(repo, parts[0])
        if commit is not None:
            return Location(parts[0], commit_info(commit), "/".join(parts[1:]), "commit")
    raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=parts[0])


def _entry_kind(entry: pygit2.Object) -> str:
    if entry.filemode == pygit2.enums.FileMode.LINK:
        return "link"
    return str(entry.type_str)


def _lookup(git: GitRepo, loc: Location) -> pygit2.Object | None:
    commit = _raw(git).get(loc.commit.sha)
    assert isinstance(commit, pygit2.Commit)
    if not loc.path:
        return commit.tree
    try:
        return commit.tree[loc.path]
    except (KeyError, ValueError, pygit2.GitError):
        return None


def _path_missing(loc: Location) -> NotFound:
    return NotFound(N_("“%(path)s” does not exist at %(rev)s."), path=loc.path, rev=loc.ref)


def path_kind(git: GitRepo, loc: Location) -> str:
    """"tree", "blob", "link" or "commit" for the entry at ``loc``; NotFound naming the path if it is absent."""
    obj = _lookup(git, loc)
    if obj is None:
        raise _path_missing(loc)
    return "tree" if not loc.path else _entry_kind(obj)


def list_tree(git: GitRepo, loc: Location) -> list[TreeEntry]:
    """The entries of the directory at ``loc``: directories first, then the rest, each group by name."""
    obj = _lookup(git, loc)
    if obj is None or obj.type_str != "tree":
        raise _path_missing(loc)
    tree = _raw(git).get(obj.id)
    assert isinstance(tree, pygit2.Tree)
    entries = [TreeEntry(e.name or "", _entry_kind(e), str(e.id), e.filemode) for e in tree]
    entries.sort(key=lambda e: (e.kind != "tree", e.name.lower(), e.name))
    return entries


def read_file(git: GitRepo, loc: Location, max_bytes: int | None = MAX_SHOWN_BYTES) -> FileInfo:
    """The file, link or submodule at ``loc``. Content over ``max_bytes`` is left out (``data`` is None) so a
    huge file is never copied into a page; pass ``max_bytes=None`` to always read it."""
    obj = _lookup(git, loc)
    if obj is None:
        raise _path_missing(loc)
    if not loc.path or obj.type_str == "tree":
        raise NotFound(N_("“%(path)s” is a directory, not a file."), path=loc.path or "/")
    kind = _entry_kind(obj)
    if kind == "commit":
        # A submodule's commit lives in another repository; only its id is recorded here.
        return FileInfo(loc.path, loc.name, kind, str(obj.id), obj.filemode, 0, None, False)
    blob = _raw(git).get(obj.id)
    assert isinstance(blob, pygit2.Blob)
    size = blob.size
    data = bytes(blob.data) if max_bytes is None or size <= max_bytes else None
    # libgit2's test is git's own: a NUL byte (or no text encoding) in the first 8000 bytes.
    return FileInfo(loc.path, loc.name, kind, str(obj.id), obj.filemode, size, data, bool(blob.is_binary))


def find_readme(entries: list[TreeEntry]) -> TreeEntry | None:
    """The README a directory page shows: README.md before plain README before README.txt, any letter case."""
    files = {e.name.lower(): e for e in entries if e.kind == "blob"}
    for name in README_PREFERENCE:
        if name in files:
            return files[name]
    return None


def blob_sizes(git: GitRepo, shas: list[str]) -> dict[str, int]:
    """The size of each blob, from the object headers: no content is inflated, so a large directory is cheap."""
    odb = _raw(git).odb
    return {sha: int(odb.read_header(sha)[1]) for sha in set(shas)}
