"""Commit history and commit diffs, read through pygit2 and returned as plain dataclasses.

Everything here is bounded so a page built from it never hangs: history walks stop after one page (plus one
commit to know whether an older page exists), and diffs stop materialising files and lines past fixed limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pygit2

from forge.errors import NotFound
from forge.git.repository import CommitInfo, GitRepo, commit_info
from forge.i18n import N_

PAGE_SIZE = 50
MAX_FILES = 200  # files shown on a commit page
MAX_LINES = 5_000  # diff lines shown on a commit page, all files together
MAX_FILE_LINES = 1_000  # a single file's patch beyond this is collapsed
# A path-limited walk on a huge history would otherwise read every commit for a path that rarely changes.
MAX_WALK = 200_000

_SHA_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")

_STATUS = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "typechange",
}


@dataclass(frozen=True)
class ResolvedRef:
    """A ref spec from a URL split into the ref it names and the path after it."""

    kind: str  # "branch", "tag" or "commit"
    name: str  # "feature/x", "v1.0" or the sha as typed
    path: str  # "" for the root
    commit: CommitInfo


@dataclass(frozen=True)
class HistoryPage:
    commits: list[CommitInfo]
    page: int
    has_older: bool

    @property
    def has_newer(self) -> bool:
        return self.page > 1


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "context", "add", "del" or "nonewline" (git's "\ No newline at end of file" marker)
    old_no: int | None
    new_no: int | None
    text: str


@dataclass(frozen=True)
class DiffHunk:
    header: str
    lines: list[DiffLine]


@dataclass(frozen=True)
class FileDiff:
    status: str  # added, modified, deleted, renamed, copied, typechange
    old_path: str
    new_path: str
    additions: int
    deletions: int
    binary: bool
    similarity: int
    hunks: list[DiffHunk] = field(default_factory=list)
    # "" when the patch is shown; "large" when this file alone is too big; "budget" when the page's line budget
    # ran out before it.
    collapsed: str = ""

    @property
    def path(self) -> str:
        return self.new_path or self.old_path


@dataclass(frozen=True)
class CommitDiff:
    files: list[FileDiff]
    files_changed: int  # all changed files, including those past MAX_FILES
    additions: int
    deletions: int
    truncated: bool  # some files or lines were left out


class History:
    """History and diffs of one repository."""

    def __init__(self, git: GitRepo) -> None:
        # A second handle on the same repository: cheap, and keeps GitRepo's pygit2 object private to it.
        self._repo = pygit2.Repository(str(git.path))
        self.git = git

    # --- refs --------------------------------------------------------------------------------------------
    def _peel(self, target: str) -> pygit2.Commit | None:
        try:
            return self._repo.revparse_single(target).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            return None

    def resolve(self, spec: str, *, check_path: bool = True) -> ResolvedRef:
        """Split ``spec`` ("feature/x/src/app.py") into the longest prefix that is a branch or tag (branches win
        at equal length, as in git) and the path after it; failing that, the first segment may be a commit sha.
        With ``check_path`` the path must exist in that commit's tree."""
        resolved = self._split(spec)
        if check_path and resolved.path and not self.path_exists(resolved.commit.sha, resolved.path):
            raise NotFound(N_("“%(path)s” does not exist at %(rev)s."), path=resolved.path, rev=resolved.name)
        return resolved

    def _split(self, spec: str) -> ResolvedRef:
        parts = [p for p in spec.split("/") if p]
        for i in range(len(parts), 0, -1):
            name = "/".join(parts[:i])
            for kind, prefix in (("branch", "refs/heads/"), ("tag", "refs/tags/")):
                full = prefix + name
                if full in self._repo.references:
                    commit = self._peel(full)
                    if commit is not None:
                        return ResolvedRef(kind, name, "/".join(parts[i:]), commit_info(commit))
        if parts and _SHA_RE.match(parts[0]):
            commit = self.find_commit_obj(parts[0])
            if commit is not None:
                return ResolvedRef("commit", parts[0], "/".join(parts[1:]), commit_info(commit))
        raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=parts[0] if parts
                       else spec)

    def find_commit_obj(self, sha: str) -> pygit2.Commit | None:
        """A commit by full or abbreviated id, or by exact branch or tag name (as /commit/main on GitHub)."""
        if not _SHA_RE.match(sha):
            for full in (f"refs/heads/{sha}", f"refs/tags/{sha}"):
                target = self.git.ref_target(full)
                if target is not None:
                    return self._peel(target)
            return None
        try:
            obj = self._repo.get(sha) if len(sha) == 40 else self._repo.revparse_single(sha)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return obj if isinstance(obj, pygit2.Commit) else None

    def commit(self, sha: str) -> CommitInfo:
        """The commit ``sha`` (full or abbreviated); NotFound naming it otherwise."""
        commit = self.find_commit_obj(sha)
        if commit is None:
            raise NotFound(N_("There is no commit “%(sha)s” in this repository."), sha=sha)
        return commit_info(commit)

    def path_exists(self, sha: str, path: str) -> bool:
        commit = self.find_commit_obj(sha)
        if commit is None:
            return False
        try:
            commit.tree[path]
        except KeyError:
            return False
        return True

    # --- history -----------------------------------------------------------------------------------------
    def _entry_id(self, commit: pygit2.Commit, path: str) -> pygit2.Oid | None:
        try:
            return commit.tree[path].id
        except KeyError:
            return None

    def _touches(self, commit: pygit2.Commit, path: str) -> bool:
        # Like git log's default: a commit counts when the path differs from every parent (a merge that kept one
        # side's version did not change it), and a root commit counts when it has the path.
        mine = self._entry_id(commit, path)
        parents = commit.parents
        if not parents:
            return mine is not None
        return all(self._entry_id(p, path) != mine for p in parents)

    def log(self, start_sha: str, *, path: str = "", page: int = 1, per_page: int = PAGE_SIZE) -> HistoryPage:
        """One page of history from ``start_sha``, newest first, optionally only commits that changed ``path``.

        Walks only as far as the requested page plus one commit, so no count of the whole history is needed."""
        page = max(page, 1)
        skip = (page - 1) * per_page
        commits: list[CommitInfo] = []
        has_older = False
        path = path.strip("/")
        walker = self._repo.walk(pygit2.Oid(hex=start_sha), pygit2.enums.SortMode.TOPOLOGICAL
                                 | pygit2.enums.SortMode.TIME)
        for walked, commit in enumerate(walker):
            if walked >= MAX_WALK:
                break
            if path and not self._touches(commit, path):
                continue
            if skip:
                skip -= 1
                continue
            if len(commits) == per_page:
                has_older = True
                break
            commits.append(commit_info(commit))
        return HistoryPage(commits, page, has_older)

    # --- diffs -------------------------------------------------------------------------------------------
    def diff(self, sha: str, *, ignore_whitespace: bool = False) -> CommitDiff:
        """The diff of commit ``sha`` against its first parent (a root commit against the empty tree)."""
        commit = self.find_commit_obj(sha)
        if commit is None:
            raise NotFound(N_("There is no commit “%(sha)s” in this repository."), sha=sha)
        flags = pygit2.enums.DiffOption.NORMAL
        if ignore_whitespace:
            flags |= pygit2.enums.DiffOption.IGNORE_WHITESPACE
        if commit.parents:
            diff = commit.parents[0].tree.diff_to_tree(commit.tree, flags=flags, context_lines=3)
        else:
            diff = commit.tree.diff_to_tree(flags=flags, context_lines=3, swap=True)
        diff.find_similar()
        stats = diff.stats
        files: list[FileDiff] = []
        budget = MAX_LINES
        truncated = False
        shown = 0
        for index in range(len(diff)):
            if shown >= MAX_FILES:
                truncated = True
                break
            patch = diff[index]
            if patch is None:
                continue
            delta = patch.delta
            _, additions, deletions = patch.line_stats
            if ignore_whitespace and delta.status_char() == "M" and not patch.hunks \
                    and delta.old_file.mode == delta.new_file.mode:
                # Only whitespace changed: with ?w=1 the file has nothing to show, like ``git diff -w``.
                continue
            shown += 1
            size = sum(len(h.lines) for h in patch.hunks)
            collapsed = ""
            if size > MAX_FILE_LINES:
                collapsed = "large"
            elif size > budget:
                collapsed, truncated = "budget", True
            hunks = [] if collapsed else [_hunk(h) for h in patch.hunks]
            if not collapsed:
                budget -= size
            files.append(FileDiff(
                status=_STATUS.get(delta.status_char(), "modified"),
                old_path=delta.old_file.path if delta.status_char() != "A" else "",
                new_path=delta.new_file.path if delta.status_char() != "D" else "",
                additions=additions,
                deletions=deletions,
                binary=bool(delta.is_binary),
                similarity=int(delta.similarity),
                hunks=hunks,
                collapsed=collapsed,
            ))
        if ignore_whitespace:
            # Totals follow what is shown when whitespace is ignored; stats from libgit2 count it.
            additions = sum(f.additions for f in files)
            deletions = sum(f.deletions for f in files)
            changed = len(files) + (len(diff) - shown if truncated else 0)
        else:
            additions, deletions, changed = stats.insertions, stats.deletions, stats.files_changed
        return CommitDiff(files, changed, additions, deletions, truncated)


def _hunk(hunk: pygit2.DiffHunk) -> DiffHunk:
    lines = []
    for line in hunk.lines:
        text = line.raw_content.decode("utf-8", "replace").rstrip("\r\n")
        origin = line.origin
        if origin == "+":
            lines.append(DiffLine("add", None, line.new_lineno, text))
        elif origin == "-":
            lines.append(DiffLine("del", line.old_lineno, None, text))
        elif origin == " ":
            lines.append(DiffLine("context", line.old_lineno, line.new_lineno, text))
        else:  # "=", ">", "<": the end-of-file newline markers
            lines.append(DiffLine("nonewline", None, None, ""))
    return DiffHunk(hunk.header.rstrip("\r\n"), lines)
