"""File patterns of ``changes`` and ``exists``, matched the way GitLab matches them.

GitLab calls Ruby's ``File.fnmatch?`` with ``FNM_PATHNAME | FNM_DOTMATCH | FNM_EXTGLOB``: ``*`` and ``?`` stay
within one directory, ``**/`` spans any number of directories (also none), ``{a,b}`` is either, ``[abc]`` one of,
and dot-files are matched like any other. ``**`` not followed by ``/`` is a plain ``*`` — so ``docs/**`` matches
``docs/index.md`` but not ``docs/api/index.md``; write ``docs/**/*`` for everything below ``docs/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache


def _brace_depths(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Each character of ``text`` from ``start`` that no backslash escapes, with its index and the brace depth
    after it (an escaped character and its backslash are skipped, so ``\\{`` opens nothing)."""
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        yield i, ch, depth
        i += 1


def _split_braces(body: str) -> list[str]:
    """Top-level comma-separated alternatives of a brace group's body."""
    parts, start = [], 0
    for i, ch, depth in _brace_depths(body):
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts


def _closing_brace(pattern: str, start: int) -> int:
    for i, ch, depth in _brace_depths(pattern, start):
        if ch == "}" and depth == 0:
            return i
    return -1


def _class_char(ch: str) -> str:
    # Escape everything that is special inside a Python [...] (also the set-operation pairs it warns about).
    return "\\" + ch if ch in "\\[]^-&~|" else ch


def _class_body(body: str) -> str:
    """The inside of a ``[...]`` (negation already removed): single characters and ``a-z`` ranges."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            ch = body[i + 1]
            i += 1
        if i + 2 < len(body) and body[i + 1] == "-":
            out.append(f"{_class_char(ch)}-{_class_char(body[i + 2])}")
            i += 3
        else:
            out.append(_class_char(ch))
            i += 1
    return "".join(out)


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:[^/]*/)*")
            i += 3
        elif ch == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            close = pattern.find("]", i + 2 if pattern.startswith(("[]", "[!]", "[^]"), i) else i + 1)
            if close == -1:
                out.append(re.escape(ch))
                i += 1
                continue
            body = pattern[i + 1 : close]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            escaped = _class_body(body)
            out.append(f"[^/{escaped}]" if negate else f"(?!/)[{escaped}]")
            i = close + 1
        elif ch == "{":
            close = _closing_brace(pattern, i)
            if close == -1:
                out.append(re.escape(ch))
                i += 1
                continue
            alternatives = _split_braces(pattern[i + 1 : close])
            out.append("(?:" + "|".join(_translate(alt) for alt in alternatives) + ")")
            i = close + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """A regex that matches exactly the paths (relative, ``/``-separated) that ``pattern`` matches."""
    try:
        return re.compile(_translate(pattern), re.DOTALL)
    except re.error:
        # Only a malformed [...] range (such as [z-a]) gets here; such a pattern can only mean its own text.
        return re.compile(re.escape(pattern), re.DOTALL)


def glob_matches(pattern: str, path: str) -> bool:
    return compile_glob(pattern).fullmatch(path) is not None


def any_matches(patterns: Iterable[str], paths: Iterable[str]) -> bool:
    """Whether any path matches any pattern (how ``changes`` decides)."""
    compiled = [compile_glob(p) for p in patterns]
    return any(regex.fullmatch(path) is not None for path in paths for regex in compiled)
