"""Comparing two commits of one repository, with GitHub's semantics.

``base...head`` (three dots) lists the commits reachable from head and not from base and shows the diff from
their merge base to head: what head would bring to base. ``base..head`` (two dots) lists the same commits but
shows the direct diff of the two trees. Each side is a branch, tag or commit id. Git never allows ".." inside a
ref name, so the first "..." (or failing that "..") in a spec separates the two sides unambiguously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from forge.errors import InvalidInput, NotFound
from forge.git.diffs import CommitDiff
from forge.git.history import History
from forge.git.repository import CommitInfo, GitRepo, commit_info
from forge.i18n import N_

MAX_COMMITS = 250  # commits listed on a comparison; the count says how many there are in all

_SHA_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")


@dataclass(frozen=True)
class Side:
    """One side of a comparison as written in the URL and the commit it names."""

    name: str
    kind: str  # "branch", "tag" or "commit"
    commit: CommitInfo


@dataclass(frozen=True)
class Comparison:
    base: Side
    head: Side
    three_dot: bool
    merge_base: str | None  # None when the histories are unrelated
    commits: list[CommitInfo]  # on head and not on base, newest first, at most MAX_COMMITS
    total_commits: int
    diff: CommitDiff | None  # None when there is nothing to compare

    @property
    def identical(self) -> bool:
        return self.base.commit.sha == self.head.commit.sha

    @property
    def unrelated(self) -> bool:
        return self.merge_base is None

    @property
    def operator(self) -> str:
        return "..." if self.three_dot else ".."


def parse_spec(spec: str) -> tuple[str, str, bool]:
    """``"main...feature/x"`` → ``("main", "feature/x", True)``; ``"v1..v2"`` → ``("v1", "v2", False)``.

    A spec without dots is not split (the caller compares it against the default branch); a side left empty is
    InvalidInput."""
    for operator in ("...", ".."):
        if operator in spec:
            base, head = spec.split(operator, 1)
            if not base or not head:
                raise InvalidInput(N_("A comparison needs both sides, written as base...head or base..head."))
            return base, head, operator == "..."
    raise InvalidInput(N_("A comparison needs both sides, written as base...head or base..head."))


def resolve_side(history: History, name: str) -> Side | None:
    """A branch, then a tag, then a commit id named ``name``; None when it names nothing here. Unlike revparse,
    expressions such as ``main~2`` are not accepted: a side is one name."""
    for kind, prefix in (("branch", "refs/heads/"), ("tag", "refs/tags/")):
        found = history.ref_commit(prefix + name)
        if found is not None:
            return Side(name, kind, found)
    commit = history.find_commit_obj(name) if _SHA_RE.match(name) else None
    return Side(name, "commit", commit_info(commit)) if commit is not None else None


def compare(git: GitRepo, base_name: str, head_name: str, *, three_dot: bool = True,
            ignore_whitespace: bool = False, path: str = "") -> Comparison:
    """Compare ``base_name`` with ``head_name``. NotFound names the side that is unknown. With ``path`` the diff
    is limited to that one file (see History.diff_commits)."""
    history = History(git)
    base = resolve_side(history, base_name)
    if base is None:
        raise NotFound(N_("The base “%(rev)s” is not a branch, tag or commit of this repository."), rev=base_name)
    head = resolve_side(history, head_name)
    if head is None:
        raise NotFound(N_("The head “%(rev)s” is not a branch, tag or commit of this repository."), rev=head_name)
    base_sha, head_sha = base.commit.sha, head.commit.sha
    if base_sha == head_sha:
        return Comparison(base, head, three_dot, base_sha, [], 0, None)
    merge_base = history.merge_base(base_sha, head_sha)
    commits, total = history.commits_between(base_sha, head_sha, MAX_COMMITS)
    # Unrelated histories have no merge base: their comparison is the direct one, as with two dots.
    old = merge_base if three_dot and merge_base is not None else base_sha
    if old == head_sha:
        # Head is already in base's history: three dots have nothing to show.
        return Comparison(base, head, three_dot, merge_base, commits, total, None)
    diff = history.diff_commits(old, head_sha, ignore_whitespace=ignore_whitespace, path=path)
    return Comparison(base, head, three_dot, merge_base, commits, total, diff)
