"""The one wrapper around pygit2. Callers get plain dataclasses and never import pygit2 themselves."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from forge.errors import InvalidInput, NotFound
from forge.i18n import N_

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: datetime


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    summary: str
    message: str
    author: Signature
    committer: Signature
    parents: tuple[str, ...]

    @property
    def short_sha(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class RefInfo:
    name: str  # short name: "main", "v1.0"
    full_name: str  # "refs/heads/main"
    target: str
    commit: CommitInfo | None


@dataclass(frozen=True)
class TreeEntry:
    name: str
    kind: str  # "tree", "blob", "commit" (submodule), "link"
    sha: str
    mode: int


def _sig(sig: pygit2.Signature) -> Signature:
    return Signature(sig.name, sig.email, datetime.fromtimestamp(sig.time, UTC))


def commit_info(commit: pygit2.Commit) -> CommitInfo:
    message = commit.message
    return CommitInfo(
        sha=str(commit.id),
        summary=message.split("\n", 1)[0][:200],
        message=message,
        author=_sig(commit.author),
        committer=_sig(commit.committer),
        parents=tuple(str(p) for p in commit.parent_ids),
    )


def init_bare(path: Path, default_branch: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), bare=True, initial_head=default_branch)
    # Served over HTTP by the forge, not by git's dumb protocol, so no update-server-info is needed.
    repo.config["core.logAllRefUpdates"] = True
    (path / "description").write_text("")


def clone_bare(git_bin: str, src: Path, dst: Path) -> None:
    """Copy a repository for a fork. Objects are hard-linked where possible: they are immutable, so sharing
    them is safe and makes forking a large repository cheap."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [git_bin, "clone", "--bare", "--quiet", "--", str(src), str(dst)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(dst, ignore_errors=True)
        raise RuntimeError(f"git clone failed: {result.stderr.strip()}")
    # A fork's own branches are its own: drop the remote configuration git clone wrote.
    repo = pygit2.Repository(str(dst))
    for remote in list(repo.remotes):
        if remote.name:
            repo.remotes.delete(remote.name)


class GitRepo:
    """Read and small local writes on one bare repository."""

    def __init__(self, path: Path) -> None:
        try:
            self._repo = pygit2.Repository(str(path))
        except pygit2.GitError as exc:
            raise NotFound(N_("The repository data is missing on disk.")) from exc
        self.path = path

    # --- reading -----------------------------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        # libgit2's is_empty only recognises an unborn "master"; a repository without any ref is empty whatever
        # HEAD names.
        return not any(True for _ in self._repo.references)

    def head_branch(self) -> str:
        target = self._repo.references["HEAD"].target if "HEAD" in self._repo.references else ""
        return str(target).removeprefix("refs/heads/")

    def _commit_for(self, target: str) -> CommitInfo | None:
        try:
            obj = self._repo.get(target)
            if obj is None:
                return None
            commit = obj.peel(pygit2.Commit)
        except (ValueError, pygit2.GitError, KeyError):
            return None
        return commit_info(commit)

    def branches(self) -> list[RefInfo]:
        result = []
        for name in sorted(self._repo.branches.local):
            ref = self._repo.references[f"refs/heads/{name}"]
            target = str(ref.resolve().target)
            result.append(RefInfo(name, f"refs/heads/{name}", target, self._commit_for(target)))
        return result

    def tags(self) -> list[RefInfo]:
        result = []
        for full in self._repo.references:
            if full.startswith("refs/tags/"):
                target = str(self._repo.references[full].resolve().target)
                result.append(RefInfo(full[len("refs/tags/") :], full, target, self._commit_for(target)))
        oldest = datetime.min.replace(tzinfo=UTC)
        result.sort(key=lambda r: r.commit.committer.when if r.commit else oldest, reverse=True)
        return result

    def _has(self, full_name: str) -> bool:
        # libgit2 raises ValueError for names it cannot even normalise (over-long, odd Unicode); such a ref
        # cannot exist, and callers (API parameters, URLs) must get "not found", not a crash.
        try:
            return full_name in self._repo.references
        except ValueError:
            return False

    def has_branch(self, name: str) -> bool:
        return self._has(f"refs/heads/{name}")

    def has_ref(self, full_name: str) -> bool:
        return self._has(full_name)

    def ref_target(self, full_name: str) -> str | None:
        if not self._has(full_name):
            return None
        return str(self._repo.references[full_name].resolve().target)

    def resolve_commit(self, rev: str) -> CommitInfo:
        try:
            commit = self._repo.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=rev) from exc
        return commit_info(commit)

    def commit_count(self, rev: str, limit: int = 100_000) -> int:
        count = 0
        try:
            start = self._repo.revparse_single(rev).peel(pygit2.Commit).id
        except (KeyError, ValueError, pygit2.GitError):
            return 0
        for _ in self._repo.walk(start, pygit2.enums.SortMode.NONE):
            count += 1
            if count >= limit:
                break
        return count

    def root_entries(self, rev: str) -> list[TreeEntry]:
        """Entries of the root tree at ``rev``: directories first, then files, by name."""
        commit = self._repo.revparse_single(rev).peel(pygit2.Commit)
        entries = []
        for entry in commit.tree:
            kind: str = entry.type_str
            if entry.filemode == pygit2.enums.FileMode.LINK:
                kind = "link"
            entries.append(TreeEntry(entry.name or "", kind, str(entry.id), entry.filemode))
        entries.sort(key=lambda e: (e.kind != "tree", e.name.lower()))
        return entries

    def read_blob_at(self, rev: str, path: str, max_bytes: int = 1024 * 1024) -> bytes | None:
        try:
            commit = self._repo.revparse_single(rev).peel(pygit2.Commit)
            entry = commit.tree[path]
        except (KeyError, ValueError, pygit2.GitError):
            return None
        blob = self._repo.get(entry.id)
        if not isinstance(blob, pygit2.Blob) or blob.size > max_bytes:
            return None
        return bytes(blob.data)

    # --- local writes ------------------------------------------------------------------------------------
    @staticmethod
    def valid_ref_name(full_name: str) -> bool:
        return bool(pygit2.reference_is_valid_name(full_name))

    def set_head(self, branch: str) -> None:
        self._repo.set_head(f"refs/heads/{branch}")

    def create_ref(self, full_name: str, target_rev: str) -> str:
        if not self.valid_ref_name(full_name):
            raise InvalidInput(N_("“%(name)s” is not a valid name for a branch or tag."), name=full_name)
        commit = self.resolve_commit(target_rev)
        try:
            self._repo.references.create(full_name, pygit2.Oid(hex=commit.sha), force=False)
        except pygit2.AlreadyExistsError as exc:
            raise InvalidInput(N_("“%(name)s” already exists."), name=full_name) from exc
        return commit.sha

    def create_annotated_tag(self, name: str, target_rev: str, message: str, tagger_name: str,
                             tagger_email: str) -> str:
        """Write tag object and ref ``refs/tags/<name>`` on the commit ``target_rev`` names; returns the tag
        object's id (what the ref points at, and what a push of the tag would report)."""
        full_name = f"refs/tags/{name}"
        if not self.valid_ref_name(full_name):
            raise InvalidInput(N_("“%(name)s” is not a valid name for a branch or tag."), name=full_name)
        commit = self.resolve_commit(target_rev)
        if self.has_ref(full_name):
            raise InvalidInput(N_("“%(name)s” already exists."), name=full_name)
        tagger = pygit2.Signature(tagger_name, tagger_email or f"{tagger_name}@users.noreply")
        oid = self._repo.create_tag(name, pygit2.Oid(hex=commit.sha), pygit2.enums.ObjectType.COMMIT, tagger, message)
        return str(oid)

    def tag_message(self, target: str) -> str | None:
        """The message of the annotated tag object ``target``; None for a lightweight tag (a commit id)."""
        obj = self._repo.get(target)
        return obj.message if isinstance(obj, pygit2.Tag) else None

    def delete_ref(self, full_name: str) -> str:
        target = self.ref_target(full_name)
        if target is None:
            raise NotFound(N_("“%(name)s” does not exist."), name=full_name)
        self._repo.references.delete(full_name)
        return target

    def undo_updates(self, updates: list[tuple[str, str, str]]) -> None:
        """Put refs back to their old values after an accepted push could not be recorded: each ``(ref, old,
        new)`` is reverted only if the ref still points at ``new``, so a later push is never undone."""
        for full_name, old, new in updates:
            if self.ref_target(full_name) != new:
                continue
            if old.strip("0"):
                self._repo.references.create(full_name, pygit2.Oid(hex=old), force=True)
            else:
                self._repo.references.delete(full_name)

    def create_initial_commit(
        self,
        files: dict[str, bytes],
        *,
        branch: str,
        author_name: str,
        author_email: str,
        message: str,
    ) -> str:
        """Write the first commit of a new repository containing ``files`` (root-level names only)."""
        builder = self._repo.TreeBuilder()
        for name, content in sorted(files.items()):
            blob_id = self._repo.create_blob(content)
            builder.insert(name, blob_id, pygit2.enums.FileMode.BLOB)
        tree_id = builder.write()
        sig = pygit2.Signature(author_name, author_email or f"{author_name}@users.noreply")
        commit_id = self._repo.create_commit(f"refs/heads/{branch}", sig, sig, message, tree_id, [])
        self.set_head(branch)
        return str(commit_id)
