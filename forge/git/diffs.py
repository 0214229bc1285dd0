"""What a diff is, as plain dataclasses (files, hunks, lines), and making them from libgit2's patches.

forge.git.history computes diffs between commits (and bounds them); the pages, the pull request views and the API
read these shapes. ``patch_text`` gives one file's hunks back as unified diff text (the API's ``patch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pygit2

_STATUS = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "typechange",
}



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
    files_changed: int  # all changed files, including those not shown
    additions: int
    deletions: int
    truncated: bool  # some files or lines were left out
    old_sha: str | None = None  # the commit diffed from; None for the empty tree (a root commit)
    new_sha: str = ""
    single: str = ""  # the one path shown when the diff was limited to a single file
    counted_files: int | None = None  # files whose lines the totals count; fewer than files_changed on huge diffs
    omitted: list[str] = field(default_factory=list)  # paths of changed files not shown (bounded)

    @property
    def partial_totals(self) -> bool:
        return self.counted_files is not None and self.counted_files < self.files_changed


def patch_text(file: FileDiff) -> str:
    """The file's hunks as unified diff text: hunk headers and lines, no file header (GitHub's ``patch``)."""
    marks = {"add": "+", "del": "-", "context": " "}
    rows: list[str] = []
    for hunk in file.hunks:
        rows.append(hunk.header)
        for line in hunk.lines:
            rows.append(marks[line.kind] + line.text if line.kind in marks else "\\ No newline at end of file")
    return "\n".join(rows)


def delta_path(delta: pygit2.DiffDelta) -> str:
    return str(delta.new_file.path if delta.status_char() != "D" else delta.old_file.path)


def whitespace_only(patch: pygit2.Patch, ignore_whitespace: bool) -> bool:
    delta = patch.delta
    return ignore_whitespace and delta.status_char() == "M" and not patch.hunks \
        and delta.old_file.mode == delta.new_file.mode


def file_diff(patch: pygit2.Patch, max_file_lines: int, budget: int) -> tuple[FileDiff, int]:
    """One file's diff and its size in lines; its hunks are left out ("collapsed") past either limit."""
    delta = patch.delta
    _, additions, deletions = patch.line_stats
    size = sum(len(h.lines) for h in patch.hunks)
    collapsed = ""
    if size > max_file_lines:
        collapsed = "large"
    elif size > budget:
        collapsed = "budget"
    status = delta.status_char()
    return FileDiff(
        status=_STATUS.get(status, "modified"),
        old_path=delta.old_file.path if status != "A" else "",
        new_path=delta.new_file.path if status != "D" else "",
        additions=additions,
        deletions=deletions,
        binary=bool(delta.is_binary),
        similarity=int(delta.similarity),
        hunks=[] if collapsed else [hunk(h) for h in patch.hunks],
        collapsed=collapsed,
    ), size


def hunk(hunk: pygit2.DiffHunk) -> DiffHunk:
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
