"""The side-by-side ("split") layout of a diff, built from the unified hunks of forge.git.diffs.

Within each change block (a run of deleted lines followed by added lines) the n-th deletion is shown beside the
n-th addition, as GitHub does, so a changed line sits next to its new version; the longer side continues against
empty cells. Context lines appear on both sides. Building the rows here keeps the template free of pairing logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from forge.git.diffs import DiffHunk, DiffLine


@dataclass(frozen=True)
class SplitRow:
    kind: str  # "hunk" (a hunk header), "context" (same line both sides) or "change"
    left: DiffLine | None = None  # the old side: a deleted or context line, or None for an empty cell
    right: DiffLine | None = None  # the new side: an added or context line, or None
    header: str = ""  # the "@@ -1,4 +1,5 @@" line of a hunk row


def split_rows(hunks: list[DiffHunk]) -> list[SplitRow]:
    """The rows of a side-by-side table for ``hunks``."""
    rows: list[SplitRow] = []
    for hunk in hunks:
        rows.append(SplitRow("hunk", header=hunk.header))
        rows.extend(_hunk_rows(hunk.lines))
    return rows


def _pair(deleted: list[DiffLine], added: list[DiffLine]) -> list[SplitRow]:
    rows = [SplitRow("change", left, right) for left, right in zip_longest(deleted, added)]
    deleted.clear()
    added.clear()
    return rows


def _hunk_rows(lines: list[DiffLine]) -> list[SplitRow]:
    rows: list[SplitRow] = []
    deleted: list[DiffLine] = []
    added: list[DiffLine] = []
    previous = "context"
    for line in lines:
        if line.kind == "nonewline":
            # git's "\ No newline at end of file" belongs to the side of the line just before it.
            if previous == "del":
                deleted.append(line)
            elif previous == "add":
                added.append(line)
            else:
                rows.extend(_pair(deleted, added))
                rows.append(SplitRow("context", line, line))
            continue
        if line.kind == "del":
            if added:  # a deletion after additions starts a new block
                rows.extend(_pair(deleted, added))
            deleted.append(line)
        elif line.kind == "add":
            added.append(line)
        else:
            rows.extend(_pair(deleted, added))
            rows.append(SplitRow("context", line, line))
        previous = line.kind
    rows.extend(_pair(deleted, added))
    return rows
