"""What every page showing a diff shares: the reader's view options from the query string and the context the
``repo/diff.html`` include needs (split rows, links that change one option and keep the others, limits).

The commit page, compare and pull requests all render a diff through this, so the options work the same on each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request

from forge.git import history
from forge.git.diffs import CommitDiff
from forge.git.diffview import split_rows


@dataclass(frozen=True)
class DiffOptions:
    style: str  # "unified" or "split"
    ignore_whitespace: bool
    file: str  # "" for all files, else the one path to show


def diff_options(request: Request) -> DiffOptions:
    q = request.query_params
    return DiffOptions(
        style="split" if q.get("style") == "split" else "unified",
        ignore_whitespace=q.get("w") == "1",
        file=q.get("file", "").strip("/"),
    )


class DiffUrls:
    """Links back to the same page with one query parameter changed and the others (``w``, ``style``, ``file``)
    kept, so choosing the split view does not forget that whitespace is hidden."""

    def __init__(self, request: Request) -> None:
        # The path is decoded; ref names may hold characters such as "#" that must be encoded again in a link.
        self._path = quote(request.url.path, safe="/:@!$&'()*+,;=")
        self._params = dict(request.query_params)

    def with_(self, **changes: str | None) -> str:
        params = dict(self._params)
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        query = urlencode(params)
        return f"{self._path}?{query}" if query else self._path

    def style(self, style: str) -> str:
        return self.with_(style=None if style == "unified" else style)

    def whitespace(self, ignore: bool) -> str:
        return self.with_(w="1" if ignore else None)

    def file(self, path: str) -> str:
        return self.with_(file=path)

    def all_files(self) -> str:
        return self.with_(file=None)


def diff_context(request: Request, diff: CommitDiff | None, options: DiffOptions) -> dict[str, Any]:
    """The variables ``repo/diff.html`` reads."""
    split = None
    if diff is not None and options.style == "split":
        split = [split_rows(f.hunks) for f in diff.files]
    return {
        "diff": diff,
        "diff_split": split,
        "diff_options": options,
        "diff_urls": DiffUrls(request),
        "max_files": history.MAX_FILES,
        "max_lines": history.MAX_LINES,
        "max_file_lines": history.MAX_FILE_LINES,
        "max_single_file_lines": history.MAX_SINGLE_FILE_LINES,
    }
