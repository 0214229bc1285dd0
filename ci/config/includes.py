"""``include``: pipeline files brought in from the same commit, merged as GitLab merges them.

Only ``include: local`` exists on this forge (``include: path.yml``, a list of paths, ``{local: path}``); the
caller reads a file through ``read_file(path) -> text or None`` (``ci.pipelines`` reads the pipeline's commit; the
command line reads ``--root``), so this package stays free of git and the database. ``template``, ``remote``,
``project`` and ``component`` need other projects or the internet and are errors naming the kind.

GitLab's merge: included files are deep-merged in the order listed (a later one wins), files they include are
merged into them first, and the main file is merged over the result — mappings key by key, anything else
(lists such as ``script``, ``stages``) replaced. A file included twice is read once; at most 150 files and 100
levels. Problems inside an included file are reported at the ``include`` line of the main file, naming the file
and its own line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from ci.config.inherit import deep_merge
from ci.config.problems import Problems, quote
from ci.config.spec import ConfigErrors, SourceLine
from ci.config.values import describe
from ci.config.yamlfile import LList, LMap, Reference, read_yaml

IncludeReader = Callable[[str], str | None]

MAX_INCLUDES = 150  # GitLab's default limit of included files per pipeline
MAX_DEPTH = 100
ELSEWHERE = ("template", "remote", "project", "component")
LOCAL_LATER = ("rules", "inputs")
NO_READER = ("the files named by “include” cannot be read here; lint the file inside its repository "
             "(or give the repository's directory with --root)")


class _State:
    def __init__(self, reader: IncludeReader | None, problems: Problems) -> None:
        self.reader = reader
        self.problems = problems
        self.read: list[str] = []


def resolve_includes(root: LMap, problems: Problems, read_file: IncludeReader | None) -> tuple[LMap, tuple[str, ...]]:
    """``root`` with its includes merged in (and ``include`` removed), and the paths read in order."""
    state = _State(read_file, problems)
    merged = _resolve(root, state, 0, None)
    return merged, tuple(state.read)


def _without_include(root: LMap) -> LMap:
    own = LMap(root.line)
    for key, value in root.items():
        if key != "include":
            own.put(key, value, root.key_line(key))
    return own


def _resolve(root: LMap, state: _State, depth: int, anchor: int | None) -> LMap:
    if "include" not in root:
        return root
    line = root.key_line("include")
    base = LMap(root.line)
    for path, entry_line in _local_paths(root["include"], line, state.problems):
        here = anchor if anchor is not None else entry_line
        if path in state.read:
            continue
        if state.reader is None:
            state.problems.error(here, f"include {quote(path)}: {NO_READER}")
            continue
        if len(state.read) >= MAX_INCLUDES:
            state.problems.error(here, f"{quote('include')}: more than {MAX_INCLUDES} files are included")
            break
        if depth >= MAX_DEPTH:
            state.problems.error(here, f"{quote('include')}: includes are nested more than {MAX_DEPTH} levels deep")
            break
        state.read.append(path)
        tree = _read(path, here, entry_line, state)
        if tree is not None:
            base = deep_merge(base, _resolve(tree, state, depth + 1, here))
    return deep_merge(base, _without_include(root))


def _read(path: str, anchor: int, line: int, state: _State) -> LMap | None:
    assert state.reader is not None
    text = state.reader(path)
    if text is None:
        state.problems.error(anchor, f"include {quote(path)}: there is no such file in the repository at this "
                                     "commit (paths are relative to the repository's root)")
        return None
    try:
        tree, own = read_yaml(text, path)
    except ConfigErrors as exc:
        for error in exc.errors:
            state.problems.error(SourceLine(error.line, path, anchor) if error.line else anchor,
                                 error.message if error.line else f"in {quote(path)}: {error.message}")
        return None
    for error in own.errors:
        state.problems.error(SourceLine(error.line, path, anchor) if error.line else anchor, error.message)
    for warning in own.warnings:
        state.problems.warn(SourceLine(warning.line, path, anchor) if warning.line else anchor, warning.message)
    placed = _place(tree, path, anchor)
    assert isinstance(placed, LMap)
    return placed


def _place(value: Any, path: str, anchor: int) -> Any:
    """A copy of an included tree whose lines say which file they are in."""
    if isinstance(value, LMap):
        copy = LMap(SourceLine(value.line, path, anchor))
        for key, item in value.items():
            copy.put(key, _place(item, path, anchor), SourceLine(value.key_line(key), path, anchor))
        return copy
    if isinstance(value, LList):
        items = LList(SourceLine(value.line, path, anchor))
        for index, item in enumerate(value):
            items.add(_place(item, path, anchor), SourceLine(value.item_line(index), path, anchor))
        return items
    if isinstance(value, Reference):
        return Reference(value.path, SourceLine(value.line, path, anchor))
    return value


def _local_paths(value: Any, line: int, problems: Problems) -> list[tuple[str, int]]:
    """The local files an ``include`` value names, checked, with the line of each entry."""
    entries: list[tuple[Any, int]]
    if isinstance(value, LList):
        entries = [(item, value.item_line(i)) for i, item in enumerate(value)]
    else:
        entries = [(value, line)]
    paths: list[tuple[str, int]] = []
    for item, item_line in entries:
        raw: Any = item
        if isinstance(item, LMap):
            kinds = [k for k in ELSEWHERE if k in item]
            if kinds:
                problems.error(item_line, f"{quote('include: ' + kinds[0])} is not available on this forge; only "
                                          f"files of the same repository can be included ({quote('include: local')})")
                continue
            if "local" not in item:
                problems.error(item_line, f"{quote('include')}: each entry needs {quote('local')} (a file of this "
                                          f"repository), not {describe(item)}")
                continue
            later = [k for k in LOCAL_LATER if k in item]
            unknown = [k for k in item if k not in ("local", *LOCAL_LATER)]
            if later or unknown:
                key = (later or unknown)[0]
                what = "is not supported yet" if later else "is not a key of include: local"
                problems.error(item.key_line(key), f"{quote('include: ' + key)} {what}")
                continue
            raw = item["local"]
        if not isinstance(raw, str) or not raw.strip():
            problems.error(item_line, f"{quote('include')} must name files of this repository, not {describe(raw)}")
            continue
        path = _local_path(raw.strip(), item_line, problems)
        if path is not None:
            paths.append((path, item_line))
    return paths


def _local_path(raw: str, line: int, problems: Problems) -> str | None:
    if raw.startswith(("http://", "https://")):
        problems.error(line, f"include {quote(raw)}: {quote('include: remote')} is not available on this forge; "
                             "only files of the same repository can be included")
        return None
    if any(c in raw for c in "*?["):
        problems.error(line, f"include {quote(raw)}: wildcards in {quote('include: local')} are not supported yet; "
                             "list the files")
        return None
    path = posixpath.normpath(raw.lstrip("/"))
    if path in (".", "..") or path.startswith("../"):
        problems.error(line, f"include {quote(raw)}: the path leaves the repository")
        return None
    if not path.endswith((".yml", ".yaml")):
        problems.error(line, f"include {quote(raw)}: an included file must be YAML (end in .yml or .yaml)")
        return None
    return path
