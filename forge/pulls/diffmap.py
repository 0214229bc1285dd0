"""Anchoring review comments to the diff of a pull request, and reading back what they were anchored to.

A review comment names lines of one side of one file ("right": the head's lines, "left": the merge base's). It may
only name lines the diff shows (changed lines and their context), as on GitHub, so a comment always has a hunk to
be shown with. The hunk is kept with the comment (``diff_hunk``, in unified diff text up to the commented line), so
a comment whose lines a later push changed ("outdated") still shows the code it was written about.

Suggested changes are fenced blocks in a comment body (```` ```suggestion ````); their text replaces the commented
lines when the author applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygit2

from forge.git.diffs import CommitDiff, DiffLine, FileDiff
from forge.git.history import History
from forge.git.repository import CommitInfo, GitRepo
from forge.pulls.models import PullRequest

LEFT = "left"
RIGHT = "right"
SIDES = (LEFT, RIGHT)
HUNK_CONTEXT = 12  # lines kept above the first commented line in a stored hunk
_SIGNS = {"add": "+", "del": "-", "context": " "}
_HEADER_RE = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_SUGGESTION_RE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*suggestion[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                            re.S | re.M)


def pull_diff(git: GitRepo, merge_base: str, head_sha: str, *, ignore_whitespace: bool = False,
              path: str = "") -> CommitDiff:
    """What the pull request brings: the diff from the merge base to the head (the compare view's three dots)."""
    return History(git).diff_commits(merge_base or None, head_sha, ignore_whitespace=ignore_whitespace, path=path)


def pull_commits(git: GitRepo, pull: PullRequest, limit: int) -> tuple[list[CommitInfo], int]:
    """The commits the pull request brings, oldest first as on GitHub, at most ``limit`` of them (0: only the
    count), and how many there are. Counted from the merge base it had, so a merged pull request keeps its list."""
    since = pull.merge_base or pull.base_sha
    if not pull.head_sha or not since:
        return [], 0
    found, total = History(git).commits_between(since, pull.head_sha, limit)
    return list(reversed(found)), total


def find_file(diff: CommitDiff, path: str) -> FileDiff | None:
    for f in diff.files:
        if f.path == path or f.old_path == path:
            return f
    return None


def line_number(line: DiffLine, side: str) -> int | None:
    return line.new_no if side == RIGHT else line.old_no


def _is_on(line: DiffLine, side: str) -> bool:
    """Whether ``line`` exists on ``side``: added lines only on the right, deleted ones only on the left."""
    if line.kind == "nonewline":
        return False
    return line_number(line, side) is not None


def commentable(file: FileDiff, side: str, start: int, end: int) -> bool:
    """Whether lines ``start``..``end`` of ``side`` all appear in one hunk of ``file``."""
    for hunk in file.hunks:
        shown = {line_number(line, side) for line in hunk.lines if _is_on(line, side)}
        if all(n in shown for n in range(start, end + 1)):
            return True
    return False


def hunk_text(file: FileDiff, side: str, start: int, end: int) -> str:
    """The hunk holding lines ``start``..``end`` of ``side`` as unified diff text, from a header (rewritten for the
    lines kept) down to the last commented line, at most HUNK_CONTEXT lines above the first; "" when not shown."""
    for hunk in file.hunks:
        lines = hunk.lines
        last = next((i for i, line in enumerate(lines) if _is_on(line, side) and line_number(line, side) == end),
                    None)
        first = next((i for i, line in enumerate(lines) if _is_on(line, side) and line_number(line, side) == start),
                     None)
        if last is None or first is None or first > last:
            continue
        begin = max(0, first - HUNK_CONTEXT)
        kept = [line for line in lines[begin:last + 1] if line.kind != "nonewline"]
        old_start = next((line.old_no for line in kept if line.old_no is not None), 0)
        new_start = next((line.new_no for line in kept if line.new_no is not None), 0)
        old_count = sum(1 for line in kept if line.old_no is not None)
        new_count = sum(1 for line in kept if line.new_no is not None)
        header = f"@@ -{old_start},{old_count} +{new_start},{new_count} @@"
        return "\n".join([header, *(_SIGNS[line.kind] + line.text for line in kept)])
    return ""


def parse_hunk(text: str) -> list[DiffLine]:
    """The lines of a stored hunk with their numbers, for showing an outdated comment with its original code."""
    rows = text.split("\n")
    if not rows or not rows[0].startswith("@@"):
        return []
    match = _HEADER_RE.match(rows[0])
    old_no, new_no = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    result: list[DiffLine] = []
    for row in rows[1:]:
        sign, body = row[:1], row[1:]
        if sign == "+":
            result.append(DiffLine("add", None, new_no, body))
            new_no += 1
        elif sign == "-":
            result.append(DiffLine("del", old_no, None, body))
            old_no += 1
        else:
            result.append(DiffLine("context", old_no, new_no, body))
            old_no += 1
            new_no += 1
    return result


def lines_of(file: FileDiff, side: str, start: int, end: int) -> list[str]:
    """The text of lines ``start``..``end`` of ``side`` as the diff shows them."""
    found: dict[int, str] = {}
    for hunk in file.hunks:
        for line in hunk.lines:
            n = line_number(line, side) if _is_on(line, side) else None
            if n is not None and start <= n <= end:
                found[n] = line.text
    return [found[n] for n in range(start, end + 1) if n in found]


def hunk_lines(text: str, side: str, start: int, end: int) -> list[str]:
    """The commented lines as a stored hunk has them (what a suggestion replaces)."""
    return [line.text for line in parse_hunk(text)
            if _is_on(line, side) and start <= (line_number(line, side) or 0) <= end]


def suggestion_of(body: str) -> str | None:
    """The replacement text of the first ```suggestion block of ``body`` (may be empty: delete the lines)."""
    match = _SUGGESTION_RE.search(body.replace("\r\n", "\n"))
    return match.group("body") if match else None


def strip_suggestion(body: str) -> str:
    """``body`` without its first suggestion block (the page shows the block as a small diff instead)."""
    return _SUGGESTION_RE.sub("", body.replace("\r\n", "\n"), count=1).strip()


@dataclass(frozen=True)
class SuggestionPreview:
    """The lines a suggestion replaces and the lines it puts instead, for the comment's small diff."""

    old: list[str]
    new: list[str]


def suggestion_preview(comment_hunk: str, side: str, start: int, end: int, body: str) -> SuggestionPreview | None:
    replacement = suggestion_of(body)
    if replacement is None:
        return None
    new = replacement.split("\n")
    if new and new[-1] == "":
        new.pop()
    return SuggestionPreview(hunk_lines(comment_hunk, side, start, end), new)


def blob_ids(git: GitRepo, commit_sha: str, paths: list[str]) -> dict[str, str]:
    """path -> blob id at ``commit_sha`` for each of ``paths`` that exists there (a deleted file has none)."""
    repo = pygit2.Repository(str(git.path))
    try:
        commit = repo.get(commit_sha)
    except (ValueError, KeyError):
        return {}
    if not isinstance(commit, pygit2.Commit):
        return {}
    found: dict[str, str] = {}
    for path in paths:
        try:
            found[path] = str(commit.tree[path].id)
        except KeyError:
            continue
    return found
