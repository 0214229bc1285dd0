"""Commit history, diffs between two commits and ref queries, read through pygit2 and returned as dataclasses.

Everything here is bounded so a page built from it never hangs: history walks stop after one page (plus one
commit to know whether an older page exists), diffs stop materialising files and lines past fixed limits, and
"which branches contain this commit" checks a bounded number of refs. The diff functions take any two commits, so
the commit page (first parent against the commit), compare and pull requests share them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

import pygit2

from forge.errors import NotFound
from forge.git import trees
from forge.git.cache import objects
from forge.git.diffs import CommitDiff, FileDiff, delta_path, file_diff, whitespace_only
from forge.git.repository import CommitInfo, GitRepo, commit_info
from forge.i18n import N_

PAGE_SIZE = 50
MAX_FILES = 200  # files shown on a commit page
MAX_LINES = 5_000  # diff lines shown on a commit page, all files together
MAX_FILE_LINES = 1_000  # a single file's patch beyond this is collapsed
MAX_STAT_FILES = 1_000  # files whose lines are counted for the totals
MAX_OMITTED_PATHS = 1_000  # names of the files not shown, listed so each can be opened alone
MAX_SINGLE_FILE_LINES = 20_000  # the one-file view (?file=) shows a patch up to this
MAX_CONTAINMENT_REFS = 100  # branches and tags checked for "contains this commit"
CONTAINMENT_SECONDS = 0.5  # ... and the time they may take together
DATE_SLOP = 86_400  # clock skew allowed between a commit and a ref tip that contains it
# A path-limited walk on a huge history would otherwise read every commit for a path that rarely changes.
MAX_WALK = 200_000

_SHA_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")

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
    # Following one file across renames: the commits that renamed it, mapped to the path it had before, and the
    # path it has in each listed commit.
    renamed_from: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def has_newer(self) -> bool:
        return self.page > 1


@dataclass(frozen=True)
class Containment:
    """The branches and tags whose history includes a commit."""

    branches: list[str]
    tags: list[str]
    unchecked: int  # refs left unchecked because of the bound


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
        # The code browser's rule, so /commits/<spec> and /tree/<spec> always agree on where the ref ends.
        loc = trees.resolve(self.git, spec)
        return ResolvedRef(loc.kind, loc.ref, loc.path, loc.commit)

    def ref_commit(self, full_name: str) -> CommitInfo | None:
        """The commit branch or tag ``full_name`` ("refs/tags/v1") points at, annotated tags peeled."""
        if full_name not in self._repo.references:
            return None
        commit = self._peel(full_name)
        return commit_info(commit) if commit is not None else None

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

    def log(self, start_sha: str, *, path: str = "", page: int = 1, per_page: int = PAGE_SIZE,
            follow: bool = False, since: datetime | None = None, until: datetime | None = None) -> HistoryPage:
        """One page of history from ``start_sha``, newest first, optionally only commits that changed ``path``.

        With ``follow`` (``path`` is a file) the walk continues under the file's old name where a commit renamed
        it, as ``git log --follow`` does. Walks only as far as the requested page plus one commit, so no count of
        the whole history is needed; later pages walk again from the start, which keeps the result identical.
        ``since`` and ``until`` (aware datetimes) keep only commits committed in that period, like git log's."""
        page = max(page, 1)
        skip = (page - 1) * per_page
        commits: list[CommitInfo] = []
        renamed_from: dict[str, str] = {}
        paths: dict[str, str] = {}
        has_older = False
        path = path.strip("/")
        walker = self._repo.walk(pygit2.Oid(hex=start_sha), pygit2.enums.SortMode.TOPOLOGICAL
                                 | pygit2.enums.SortMode.TIME)
        for walked, commit in enumerate(walker):
            if walked >= MAX_WALK:
                break
            if path and not self._touches(commit, path):
                continue
            if (since and commit.commit_time < since.timestamp()) or (until and commit.commit_time > until.timestamp()):
                continue
            listed = not skip
            if skip:
                skip -= 1
            elif len(commits) == per_page:
                has_older = True
                break
            else:
                commits.append(commit_info(commit))
            older = self._rename_source(commit, path) if follow and path else None
            if listed and follow:
                paths[str(commit.id)] = path
                if older is not None:
                    renamed_from[str(commit.id)] = older
            if older is not None:
                # Skipped commits (earlier pages) switch the name too, so every page follows the same chain.
                path = older
        return HistoryPage(commits, page, has_older, renamed_from, paths)

    # --- rename following --------------------------------------------------------------------------------
    def is_file(self, sha: str, path: str) -> bool:
        """True when ``path`` at commit ``sha`` is a file or symbolic link (not a directory or submodule)."""
        commit = self.find_commit_obj(sha)
        if commit is None or not path:
            return False
        try:
            entry = commit.tree[path]
        except KeyError:
            return False
        return entry.type_str == "blob"

    def _rename_source(self, commit: pygit2.Commit, path: str) -> str | None:
        """The path ``path`` had before ``commit`` when that commit renamed it, else None. Only a commit that adds
        the path (no parent has it) can be a rename, so the costly similarity search runs once per file origin."""
        parents = commit.parents
        if not parents or self._entry_id(commit, path) is None:
            return None
        if any(self._entry_id(p, path) is not None for p in parents):
            return None
        diff = parents[0].tree.diff_to_tree(commit.tree)
        diff.find_similar(flags=pygit2.enums.DiffFind.FIND_RENAMES)
        for delta in diff.deltas:
            if delta.status_char() == "R" and delta.new_file.path == path:
                return str(delta.old_file.path)
        return None

    # --- diffs -------------------------------------------------------------------------------------------
    def diff(self, sha: str, *, ignore_whitespace: bool = False, path: str = "") -> CommitDiff:
        """The diff of commit ``sha`` against its first parent (a root commit against the empty tree)."""
        commit = self.find_commit_obj(sha)
        if commit is None:
            raise NotFound(N_("There is no commit “%(sha)s” in this repository."), sha=sha)
        parent = str(commit.parent_ids[0]) if commit.parent_ids else None
        return self.diff_commits(parent, str(commit.id), ignore_whitespace=ignore_whitespace, path=path)

    def diff_commits(self, old_sha: str | None, new_sha: str, *, ignore_whitespace: bool = False,
                     path: str = "") -> CommitDiff:
        """The diff from commit ``old_sha`` (None: the empty tree) to commit ``new_sha``, with renames found.

        With ``path`` only that file is shown (matched by its new or old name) with a higher line limit; NotFound
        when it did not change."""
        new = self._commit_by_id(new_sha)
        old = self._commit_by_id(old_sha) if old_sha else None
        flags = pygit2.enums.DiffOption.NORMAL
        if ignore_whitespace:
            flags |= pygit2.enums.DiffOption.IGNORE_WHITESPACE
        if old is not None:
            diff = old.tree.diff_to_tree(new.tree, flags=flags, context_lines=3)
        else:
            diff = new.tree.diff_to_tree(flags=flags, context_lines=3, swap=True)
        diff.find_similar()
        old_id, new_id = (str(old.id) if old is not None else None), str(new.id)
        if path:
            file = self._single_file(diff, path, ignore_whitespace)
            return CommitDiff([file], 1, file.additions, file.deletions, False, old_id, new_id, single=path)
        files: list[FileDiff] = []
        budget = MAX_LINES
        truncated = False
        additions = deletions = counted = skipped = 0
        # One pass: every file up to MAX_STAT_FILES is diffed once, for its line counts and, for the first
        # MAX_FILES, its hunks. Diffing each file is the whole cost (libgit2's diff.stats would diff them all
        # again), so beyond MAX_STAT_FILES the line totals are left partial rather than taking seconds.
        omitted: list[str] = []  # paths past MAX_FILES, so each can still be opened alone
        end = len(diff)
        for index in range(len(diff)):
            if counted >= MAX_STAT_FILES:
                truncated, end = True, index
                break
            patch = diff[index]
            if patch is None or whitespace_only(patch, ignore_whitespace):
                # Only whitespace changed: with ?w=1 the file has nothing to show, like ``git diff -w``.
                skipped += 1
                continue
            counted += 1
            if len(files) >= MAX_FILES:
                truncated = True
                _, added, removed = patch.line_stats
                additions, deletions = additions + added, deletions + removed
                if len(omitted) < MAX_OMITTED_PATHS:
                    omitted.append(delta_path(patch.delta))
                continue
            file, size = file_diff(patch, MAX_FILE_LINES, budget)
            additions, deletions = additions + file.additions, deletions + file.deletions
            if file.collapsed == "budget":
                truncated = True
            elif not file.collapsed:
                budget -= size
            files.append(file)
        # Past the counted files only the names are read: deltas come without diffing any content.
        for delta in islice(diff.deltas, end, end + MAX_OMITTED_PATHS - len(omitted)):
            omitted.append(delta_path(delta))
        changed = len(diff) - skipped
        return CommitDiff(files, changed, additions, deletions, truncated, old_id, new_id,
                          counted_files=counted, omitted=omitted)

    def _single_file(self, diff: pygit2.Diff, path: str, ignore_whitespace: bool) -> FileDiff:
        # Deltas are read without making patches; only the one file's patch is generated.
        found = None
        for index, delta in enumerate(diff.deltas):
            if delta.new_file.path == path or delta.old_file.path == path:
                found = index
                if delta.new_file.path == path:
                    break
        patch = diff[found] if found is not None else None
        if patch is None or whitespace_only(patch, ignore_whitespace):
            raise NotFound(N_("“%(path)s” is not among the changed files."), path=path)
        return file_diff(patch, MAX_SINGLE_FILE_LINES, MAX_SINGLE_FILE_LINES)[0]

    def _commit_by_id(self, sha: str) -> pygit2.Commit:
        commit = self.find_commit_obj(sha)
        if commit is None:
            raise NotFound(N_("There is no commit “%(sha)s” in this repository."), sha=sha)
        return commit

    # --- graph queries -----------------------------------------------------------------------------------
    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of commits ``a`` and ``b``; None when their histories are unrelated."""
        found = self._repo.merge_base(pygit2.Oid(hex=a), pygit2.Oid(hex=b))
        return str(found) if found is not None else None

    def commits_between(self, base_sha: str, head_sha: str, limit: int) -> tuple[list[CommitInfo], int]:
        """Commits reachable from ``head_sha`` but not from ``base_sha``, newest first, at most ``limit`` of them,
        and how many there are in all (counted by libgit2 only when the list was cut)."""
        walker = self._repo.walk(pygit2.Oid(hex=head_sha), pygit2.enums.SortMode.TOPOLOGICAL
                                 | pygit2.enums.SortMode.TIME)
        walker.hide(pygit2.Oid(hex=base_sha))
        commits: list[CommitInfo] = []
        for commit in walker:
            if len(commits) == limit:
                ahead, _ = self._repo.ahead_behind(pygit2.Oid(hex=head_sha), pygit2.Oid(hex=base_sha))
                return commits, int(ahead)
            commits.append(commit_info(commit))
        return commits, len(commits)

    def containing_refs(self, sha: str, default_branch: str = "") -> Containment:
        """The branches and tags that contain commit ``sha``. At most MAX_CONTAINMENT_REFS refs are checked (the
        default branch first, then the most recently updated), within CONTAINMENT_SECONDS; the rest are counted
        as unchecked. A complete answer is cached by the commit and every ref's target, so it never goes stale;
        one cut short by the time budget is not, so a later view can finish it."""
        target = self._commit_by_id(sha)
        refs: list[tuple[str, str, pygit2.Commit]] = []  # (kind, name, tip)
        for full in self._repo.references:
            kind = "branch" if full.startswith("refs/heads/") else "tag" if full.startswith("refs/tags/") else ""
            if not kind:
                continue
            tip = self._peel(full)
            if tip is not None:
                refs.append((kind, full.split("/", 2)[2], tip))
        # Branches before tags, the default branch first, then newest tips: the refs a reader most likely means.
        refs.sort(key=lambda r: (r[0] != "branch", r[1] != default_branch, -r[2].commit_time, r[1]))
        key = ("contains", str(self.git.path), str(target.id), tuple((k, n, str(t.id)) for k, n, t in refs))
        cached = objects.get(key)
        if isinstance(cached, Containment):
            return cached
        found, timed_out = self._containment(target, refs)
        if not timed_out:
            objects.put(key, found)
        return found

    def _containment(self, target: pygit2.Commit,
                     refs: list[tuple[str, str, pygit2.Commit]]) -> tuple[Containment, bool]:
        checked = refs[:MAX_CONTAINMENT_REFS]
        # A tip committed more than a day before the commit cannot contain it (the day allows for clock skew, as
        # git name-rev's cutoff does), so only newer tips are asked about.
        cutoff = target.commit_time - DATE_SLOP
        tips = sorted({tip.id: tip for _, _, tip in checked if tip.commit_time >= cutoff}.values(),
                      key=lambda t: t.commit_time)
        contains: dict[pygit2.Oid, bool] = {}
        nearest = target  # the newest tip known to contain the commit
        deadline = time.monotonic() + CONTAINMENT_SECONDS
        for tip in tips:  # oldest first
            if time.monotonic() > deadline:
                break
            # libgit2's cost is the graph between the two commits, so asking against the nearest known container
            # (on a line of releases: the previous tag) is much cheaper than asking against the commit itself.
            found = tip.id in (target.id, nearest.id) or self._repo.descendant_of(tip.id, nearest.id)
            if not found and nearest.id != target.id:
                found = self._repo.descendant_of(tip.id, target.id)
            contains[tip.id] = found
            if found:
                nearest = tip
        branches: list[str] = []
        tags: list[str] = []
        unchecked = len(refs) - len(checked)
        timed_out = False
        for kind, name, tip in checked:
            if tip.commit_time < cutoff:
                continue
            if tip.id not in contains:  # out of time
                unchecked += 1
                timed_out = True
            elif contains[tip.id]:
                (branches if kind == "branch" else tags).append(name)
        return Containment(branches, tags, unchecked), timed_out
