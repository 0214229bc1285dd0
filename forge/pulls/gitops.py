"""The git side of pull requests: mergeability, the merge commit of each style, copying a head into the base
repository, resolving a conflict, applying a suggested change and following a line across a push.

Pure git, no database. Merges are computed in memory with libgit2 (pygit2): nothing here touches a working tree
and nothing here moves a branch except :func:`update_ref` (compare-and-swap through ``git update-ref``) and
:func:`copy_head` (the forge's own ``refs/pull/<n>/head``). Callers decide who may do what.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from forge.errors import Conflict, InvalidInput, NotFound
from forge.git.repository import ZERO_SHA, GitRepo
from forge.i18n import N_
from forge.pulls.models import CONFLICT, EMPTY, FAST_FORWARD, MERGE, MERGEABLE, REBASE, SQUASH

# (name, email) of the person a commit is written for.
Identity = tuple[str, str]

PULL_HEAD_REF = "refs/pull/%d/head"
_MAX_TEXT = 1024 * 1024  # larger files are not resolved or edited in the browser


def pull_head_ref(number: int) -> str:
    return PULL_HEAD_REF % number


def _repo(git: GitRepo) -> pygit2.Repository:
    # forge.git.repository keeps its pygit2 handle private to most callers; merging needs it directly.
    return git._repo


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    try:
        obj = repo.get(sha)
    except (ValueError, pygit2.GitError) as exc:
        raise NotFound(N_("Commit %(sha)s is not in this repository."), sha=sha[:10]) from exc
    if obj is None:
        raise NotFound(N_("Commit %(sha)s is not in this repository."), sha=sha[:10])
    return obj.peel(pygit2.Commit)


def _sig(who: Identity) -> pygit2.Signature:
    name, email = who
    return pygit2.Signature(name or "forge", email or f"{name or 'forge'}@users.noreply")


def _conflict_paths(index: pygit2.Index) -> list[str]:
    if index.conflicts is None:
        return []
    paths = set()
    for ancestor, ours, theirs in index.conflicts:
        entry = ours or theirs or ancestor
        if entry is not None:
            paths.add(entry.path)
    return sorted(paths)


def is_ancestor(git: GitRepo, ancestor: str, descendant: str) -> bool:
    """Whether commit ``ancestor`` is ``descendant`` or one of its ancestors."""
    if ancestor == descendant:
        return True
    repo = _repo(git)
    try:
        return bool(repo.descendant_of(pygit2.Oid(hex=descendant), pygit2.Oid(hex=ancestor)))
    except (ValueError, KeyError, pygit2.GitError):
        return False


# --- mergeability ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeCheck:
    status: str  # MERGEABLE | CONFLICT | EMPTY
    conflicts: list[str] = field(default_factory=list)
    merge_base: str = ""  # empty when the histories share nothing
    commits_behind: int = 0  # base commits the head lacks
    commits_ahead: int = 0  # head commits the base lacks


def check_merge(git: GitRepo, base_sha: str, head_sha: str) -> MergeCheck:
    """Whether ``head_sha`` merges cleanly into ``base_sha``. Unrelated histories count as a conflict without files
    (there is nothing to merge them on)."""
    repo = _repo(git)
    base, head = _commit(repo, base_sha), _commit(repo, head_sha)
    merge_base = repo.merge_base(base.id, head.id)
    if merge_base is None:
        return MergeCheck(CONFLICT)
    ahead, behind = repo.ahead_behind(head.id, base.id)
    if ahead == 0:
        return MergeCheck(EMPTY, [], str(merge_base), behind, 0)
    if merge_base == base.id:
        return MergeCheck(MERGEABLE, [], str(merge_base), behind, ahead)  # a fast-forward: nothing can conflict
    index = repo.merge_commits(base.id, head.id)
    conflicts = _conflict_paths(index)
    return MergeCheck(CONFLICT if conflicts else MERGEABLE, conflicts, str(merge_base), behind, ahead)


# --- building the merge ----------------------------------------------------------------------------------------


def head_commits(git: GitRepo, base_sha: str, head_sha: str, *also_hide: str) -> list[str]:
    """The commits ``head_sha`` has and ``base_sha`` (and each of ``also_hide``) lacks, oldest first (parents
    before children)."""
    repo = _repo(git)
    walker = repo.walk(pygit2.Oid(hex=head_sha), pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    for sha in (base_sha, *also_hide):
        walker.hide(pygit2.Oid(hex=sha))
    return [str(c.id) for c in walker]


def commit_messages(git: GitRepo, base_sha: str, head_sha: str, limit: int = 250) -> list[str]:
    """The messages of the commits a pull request brings (for closing references), oldest first."""
    repo = _repo(git)
    return [_commit(repo, sha).message for sha in head_commits(git, base_sha, head_sha)[:limit]]


def _merged_tree(repo: pygit2.Repository, ours: pygit2.Commit, theirs: pygit2.Commit) -> pygit2.Oid:
    index = repo.merge_commits(ours.id, theirs.id)
    if _conflict_paths(index):
        raise Conflict(N_("This pull request has conflicts with the base branch; resolve them first."))
    return index.write_tree(repo)


def _empty_tree(repo: pygit2.Repository) -> pygit2.Oid:
    return repo.TreeBuilder().write()


def build_merge(
    git: GitRepo,
    *,
    style: str,
    base_sha: str,
    head_sha: str,
    message: str,
    committer: Identity,
    squash_author: Identity | None = None,
) -> str:
    """Write the commit(s) that merge ``head_sha`` into ``base_sha`` in ``style`` and return the sha the base
    branch should move to. No ref changes. Raises Conflict when the head does not merge cleanly and InvalidInput
    when there is nothing to merge or a fast-forward is impossible."""
    repo = _repo(git)
    base, head = _commit(repo, base_sha), _commit(repo, head_sha)
    if repo.merge_base(base.id, head.id) is None:
        raise Conflict(N_("The head and the base branch share no history; they cannot be merged."))
    ahead, _behind = repo.ahead_behind(head.id, base.id)
    if ahead == 0:
        raise InvalidInput(N_("There is nothing to merge: the base branch already contains these commits."))
    who = _sig(committer)
    if style == FAST_FORWARD:
        if not is_ancestor(git, base_sha, head_sha):
            raise InvalidInput(N_("The base branch has commits the head lacks, so it cannot be fast-forwarded; "
                                  "update the head branch or choose another merge method."))
        return str(head.id)
    if style == MERGE:
        tree = _merged_tree(repo, base, head)
        return str(repo.create_commit(None, who, who, message, tree, [base.id, head.id]))
    if style == SQUASH:
        tree = _merged_tree(repo, base, head)
        author = _sig(squash_author) if squash_author else who
        return str(repo.create_commit(None, author, who, message, tree, [base.id]))
    if style == REBASE:
        sha = _rebase(repo, base, head_commits(git, base_sha, head_sha), who)
        if sha == str(base.id):
            raise InvalidInput(N_("There is nothing to merge: the base branch already has these changes."))
        return sha
    raise InvalidInput(N_("“%(style)s” is not a merge method."), style=style)


def _rebase(repo: pygit2.Repository, base: pygit2.Commit, shas: list[str], who: pygit2.Signature) -> str:
    """Replay each commit on top of ``base`` in order, keeping author and message (like ``git rebase``: merge
    commits are dropped, their other commits are replayed; a commit whose change is already there is skipped)."""
    current = base
    for sha in shas:
        commit = _commit(repo, sha)
        if len(commit.parents) > 1:
            continue
        parent_tree: pygit2.Tree | pygit2.Oid = commit.parents[0].tree if commit.parents else _empty_tree(repo)
        index = repo.merge_trees(parent_tree, current.tree, commit.tree)
        if _conflict_paths(index):
            raise Conflict(N_("Commit %(sha)s does not apply on the base branch; the pull request cannot be rebased."),
                           sha=sha[:10])
        tree = index.write_tree(repo)
        if tree == current.tree.id:
            continue
        new = repo.create_commit(None, commit.author, who, commit.message, tree, [current.id])
        current = _commit(repo, str(new))
    return str(current.id)


# --- refs ------------------------------------------------------------------------------------------------------


def update_ref(git: GitRepo, full_ref: str, new_sha: str, old_sha: str, *, git_bin: str = "git") -> bool:
    """Move ``full_ref`` from ``old_sha`` to ``new_sha`` only if it still points at ``old_sha`` (an empty or zero
    ``old_sha``: only if it does not exist). git takes the ref's lock, so concurrent pushes are serialised.
    Returns False when the ref had moved."""
    result = subprocess.run(
        [git_bin, "update-ref", "-m", "forge: pull request", full_ref, new_sha, old_sha or ZERO_SHA],
        cwd=git.path, capture_output=True, text=True, check=False,
        env={"GIT_DIR": str(git.path), "PATH": _path_env()},
    )
    return result.returncode == 0


def delete_ref(git: GitRepo, full_ref: str, old_sha: str, *, git_bin: str = "git") -> bool:
    """Delete ``full_ref`` only if it still points at ``old_sha``."""
    result = subprocess.run(
        [git_bin, "update-ref", "-d", full_ref, old_sha], cwd=git.path, capture_output=True, text=True, check=False,
        env={"GIT_DIR": str(git.path), "PATH": _path_env()},
    )
    return result.returncode == 0


def _path_env() -> str:
    return os.environ.get("PATH", "/usr/bin:/bin")


def _fetch(dst: Path, src: Path, refspec: str, git_bin: str) -> None:
    result = subprocess.run(
        [git_bin, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc", str(src), refspec],
        cwd=dst, capture_output=True, text=True, check=False,
        env={"GIT_DIR": str(dst), "PATH": _path_env(), "GIT_TERMINAL_PROMPT": "0"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"git fetch failed: {result.stderr.strip()}")


def copy_head(base_git: GitRepo, head_repo_path: Path, head_branch: str, number: int, *, git_bin: str = "git") -> str:
    """Point ``refs/pull/<number>/head`` of the base repository at the tip of ``head_branch`` of the head
    repository (fetching its objects when the head is a fork); returns the sha. NotFound when the branch is gone."""
    target = pull_head_ref(number)
    if head_repo_path.resolve() == Path(base_git.path).resolve():
        sha = base_git.ref_target(f"refs/heads/{head_branch}")
        if sha is None:
            raise NotFound(N_("The branch %(branch)s no longer exists."), branch=head_branch)
        _repo(base_git).references.create(target, pygit2.Oid(hex=sha), force=True)
        return sha
    head_git = GitRepo(head_repo_path)
    if head_git.ref_target(f"refs/heads/{head_branch}") is None:
        raise NotFound(N_("The branch %(branch)s no longer exists."), branch=head_branch)
    _fetch(base_git.path, head_repo_path, f"+refs/heads/{head_branch}:{target}", git_bin)
    fresh = GitRepo(base_git.path)  # a new handle sees the ref git just wrote
    sha = fresh.ref_target(target)
    assert sha is not None
    return sha


def transfer(src: GitRepo, dst: GitRepo, sha: str, *, git_bin: str = "git") -> None:
    """Make commit ``sha`` of ``src`` (and its history) available in ``dst``, e.g. a commit the forge wrote in the
    base repository that must land on a fork's branch. A temporary ref under refs/forge/ carries it."""
    if Path(src.path).resolve() == Path(dst.path).resolve():
        return
    if _repo(dst).get(sha) is not None:
        return
    temp = f"refs/forge/transfer/{sha}"
    _repo(src).references.create(temp, pygit2.Oid(hex=sha), force=True)
    try:
        _fetch(dst.path, src.path, temp, git_bin)
    finally:
        with contextlib.suppress(KeyError, pygit2.GitError):
            _repo(src).references.delete(temp)


# --- conflicts resolved in the browser --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictFile:
    path: str
    ancestor: str  # the file at the merge base ("" when both sides added it)
    base: str  # the base branch's version ("ours" when the base is merged into the head)
    head: str  # the head branch's version
    merged: str  # the text with <<<<<<< / ======= / >>>>>>> markers, as git would leave it


def _text(repo: pygit2.Repository, entry: pygit2.IndexEntry | None) -> str:
    if entry is None:
        return ""
    blob = repo.get(entry.id)
    if not isinstance(blob, pygit2.Blob) or blob.is_binary or blob.size > _MAX_TEXT:
        raise InvalidInput(N_("“%(path)s” is not a text file; resolve this conflict with git."), path=entry.path)
    try:
        return bytes(blob.data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(N_("“%(path)s” is not a text file; resolve this conflict with git."),
                           path=entry.path) from exc


def _conflict_entries(
    repo: pygit2.Repository, index: pygit2.Index, path: str
) -> tuple[pygit2.IndexEntry | None, pygit2.IndexEntry, pygit2.IndexEntry]:
    if index.conflicts is None or path not in _conflict_paths(index):
        raise NotFound(N_("“%(path)s” has no conflict."), path=path)
    ancestor, ours, theirs = index.conflicts[path]
    if ours is None or theirs is None:
        raise InvalidInput(N_("“%(path)s” was deleted on one side; resolve this conflict with git."), path=path)
    if ours.mode == pygit2.enums.FileMode.LINK or theirs.mode == pygit2.enums.FileMode.LINK \
            or ours.mode == pygit2.enums.FileMode.COMMIT or theirs.mode == pygit2.enums.FileMode.COMMIT:
        raise InvalidInput(N_("“%(path)s” is not a text file; resolve this conflict with git."), path=path)
    return ancestor, ours, theirs


def conflict_sides(git: GitRepo, base_sha: str, head_sha: str, path: str, *, base_label: str = "base",
                   head_label: str = "head") -> ConflictFile:
    """The three versions of a conflicting text file and git's merge of them with conflict markers. The head is
    "ours" (the base is merged into the head, as the resolution commit does)."""
    repo = _repo(git)
    index = repo.merge_commits(_commit(repo, head_sha).id, _commit(repo, base_sha).id)
    ancestor, ours, theirs = _conflict_entries(repo, index, path)
    ancestor_text, head_text, base_text = _text(repo, ancestor), _text(repo, ours), _text(repo, theirs)
    if ancestor is None:  # both sides added the file
        merged = f"<<<<<<< {head_label}\n{_nl(head_text)}=======\n{_nl(base_text)}>>>>>>> {base_label}\n"
    else:
        result = repo.merge_file_from_index(ancestor, ours, theirs)
        text = result if isinstance(result, str) else (result.contents or "")
        merged = _relabel(text, head_label, base_label)
    return ConflictFile(path, ancestor_text, base_text, head_text, merged)


def _nl(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _relabel(merged: str, head_label: str, base_label: str) -> str:
    """libgit2 labels both sides with the path; name them after the branches instead."""
    lines = []
    for line in merged.splitlines(keepends=True):
        if line.startswith("<<<<<<< "):
            line = f"<<<<<<< {head_label}\n"
        elif line.startswith(">>>>>>> "):
            line = f">>>>>>> {base_label}\n"
        lines.append(line)
    return "".join(lines)


def resolve_conflicts(
    git: GitRepo,
    *,
    base_sha: str,
    head_sha: str,
    resolutions: dict[str, str],
    message: str,
    author: Identity,
) -> str:
    """Write a merge commit of the base into the head (parents: head, base) whose conflicting files get the given
    contents; returns its sha. Conflict when other files still conflict; InvalidInput for a file that is not
    plain text on both sides."""
    repo = _repo(git)
    head, base = _commit(repo, head_sha), _commit(repo, base_sha)
    index = repo.merge_commits(head.id, base.id)
    for path, content in resolutions.items():
        ancestor, ours, theirs = _conflict_entries(repo, index, path)
        _text(repo, ours), _text(repo, theirs)  # both sides must be text
        blob = repo.create_blob(content.encode("utf-8"))
        del index.conflicts[path]
        index.add(pygit2.IndexEntry(path, blob, ours.mode))
    left = _conflict_paths(index)
    if left:
        raise Conflict(N_("Other files still conflict: %(paths)s."), paths=", ".join(left))
    tree = index.write_tree(repo)
    who = _sig(author)
    return str(repo.create_commit(None, who, who, message, tree, [head.id, base.id]))


# --- suggested changes ------------------------------------------------------------------------------------------


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def apply_suggestion(
    git: GitRepo,
    *,
    head_sha: str,
    path: str,
    start_line: int,
    end_line: int,
    replacement: str,
    message: str,
    author: Identity,
    expected: str | list[str] | None = None,
) -> str:
    """Write a commit on top of ``head_sha`` in which lines ``start_line``..``end_line`` (1-based, inclusive) of
    ``path`` are replaced by ``replacement`` (an empty replacement deletes them); returns its sha. When
    ``expected`` (the lines the suggestion was written against) is given and the head's lines differ, Conflict."""
    repo = _repo(git)
    head = _commit(repo, head_sha)
    try:
        entry = head.tree[path]
    except KeyError as exc:
        raise Conflict(N_("“%(path)s” no longer exists on the head branch."), path=path) from exc
    blob = repo.get(entry.id)
    if not isinstance(blob, pygit2.Blob) or blob.is_binary or blob.size > _MAX_TEXT:
        raise InvalidInput(N_("“%(path)s” is not a text file."), path=path)
    try:
        text = bytes(blob.data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(N_("“%(path)s” is not a text file."), path=path) from exc
    lines = text.splitlines(keepends=True)
    if start_line < 1 or end_line < start_line or end_line > len(lines):
        raise Conflict(N_("The suggested lines of “%(path)s” no longer exist on the head branch."), path=path)
    if expected is not None:
        want = expected.splitlines() if isinstance(expected, str) else [_strip_eol(x) for x in expected]
        have = [_strip_eol(x) for x in lines[start_line - 1 : end_line]]
        if want != have:
            raise Conflict(N_("“%(path)s” changed since the suggestion was made; it cannot be applied."), path=path)
    eol = "\r\n" if lines[start_line - 1].endswith("\r\n") else "\n"
    new_lines = [x + eol for x in replacement.replace("\r\n", "\n").split("\n")] if replacement != "" else []
    if replacement.endswith("\n") and new_lines:
        new_lines.pop()  # "a\n" is one line, not a line and an empty one
    if new_lines and not lines[end_line - 1].endswith(("\n", "\r")):
        new_lines[-1] = _strip_eol(new_lines[-1])  # the file ended without a newline; keep it that way
    content = "".join(lines[: start_line - 1] + new_lines + lines[end_line:])
    new_blob = repo.create_blob(content.encode("utf-8"))
    index = pygit2.Index()
    index.read_tree(head.tree)
    index.add(pygit2.IndexEntry(path, new_blob, entry.filemode))
    tree = index.write_tree(repo)
    if tree == head.tree.id:
        raise InvalidInput(N_("The suggestion changes nothing."))
    who = _sig(author)
    return str(repo.create_commit(None, who, who, message, tree, [head.id]))


# --- following a line across a push -----------------------------------------------------------------------------


def map_line(git: GitRepo, old_sha: str, new_sha: str, path: str, line: int, side: str = "right") -> int | None:
    """Where line ``line`` of ``path`` at commit ``old_sha`` is at ``new_sha``: its new number, or None when the
    line itself was changed or removed (or the file is gone). ``side`` is accepted for symmetry with review
    comments; the caller passes the commits of the side the line belongs to (the heads for "right", the merge
    bases for "left")."""
    del side
    old = _blob_bytes(git, old_sha, path)
    new = _blob_bytes(git, new_sha, path)
    if old is None or new is None:
        return None
    if old == new:
        return line
    patch = pygit2.Patch.create_from(old, new, context_lines=0)
    offset = 0
    for hunk in patch.hunks:
        if hunk.old_lines == 0:  # pure insertion after old line ``old_start``
            if line > hunk.old_start:
                offset += hunk.new_lines
                continue
            break
        end = hunk.old_start + hunk.old_lines - 1
        if line < hunk.old_start:
            break
        if line <= end:
            return None
        offset += hunk.new_lines - hunk.old_lines
    return line + offset


def _blob_bytes(git: GitRepo, sha: str, path: str) -> bytes | None:
    repo = _repo(git)
    try:
        commit = _commit(repo, sha)
        entry = commit.tree[path]
    except (KeyError, NotFound):
        return None
    blob = repo.get(entry.id)
    return bytes(blob.data) if isinstance(blob, pygit2.Blob) else None
