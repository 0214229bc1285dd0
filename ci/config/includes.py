"""``include``: pipeline files brought in from the same commit, merged as GitLab merges them.

Only ``include: local`` is read on this forge (``include: path.yml``, a list of paths, ``{local: path}``); the
caller reads a file through ``read_file(path) -> text or None`` (``ci.pipelines`` reads the pipeline's commit; the
command line reads ``--root``), so this package stays free of git and the database. ``template``, ``remote``,
``project`` and ``component`` need GitLab's template library, another project or the internet: each is a warning
naming what is left out, and the file's own jobs still run. ``resolve_includes`` returns what was left out, so the
schema can leave out, with a warning, the jobs that lean on it (``extends`` of a template only the include defines,
a job that only adds keys to an included job, ``needs`` of an included job) instead of refusing the whole file.

GitLab's merge: included files are deep-merged in the order listed (a later one wins), files they include are
merged into them first, and the main file is merged over the result — mappings key by key, anything else
(lists such as ``script``, ``stages``) replaced. ``include: [{local: file.yml, inputs: {...}}]`` gives the file's
``spec: inputs`` (``ci.config.inputs``); ``rules`` (``if``, ``exists``, ``changes``) decide with the pipeline's own
variables whether the file is included, and ``$VAR`` in a path is expanded with them (``IncludeContext``). A file
included twice with the same inputs is read once (with other
inputs, again: that is how one template makes several jobs); at most 150 files and 100
levels. Problems inside an included file are reported at the ``include`` line of the main file, naming the file
and its own line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ci.config.expand import substitute
from ci.config.expressions import holds
from ci.config.globs import any_matches
from ci.config.inherit import deep_merge
from ci.config.inputs import apply_inputs
from ci.config.problems import Problems, quote
from ci.config.rules import parse_rule
from ci.config.spec import ConfigErrors, Rule, SourceLine
from ci.config.values import check_keys, describe, mapping_items
from ci.config.yamlfile import LList, LMap, Reference, read_yaml

IncludeReader = Callable[[str], str | None]

MAX_INCLUDES = 150  # GitLab's default limit of included files per pipeline
MAX_DEPTH = 100
ELSEWHERE = ("template", "remote", "project", "component")
LOCAL_KEYS = ("local", "inputs", "rules")
INCLUDE_RULE_KEYS = ("if", "exists", "changes", "when")
NO_READER = ("the files named by “include” cannot be read here; lint the file inside its repository "
             "(or give the repository's directory with --root)")


@dataclass(frozen=True)
class IncludeContext:
    """What ``include: rules`` and ``$VAR`` in include paths see: the pipeline's own variables (predefined and
    given to the run; GitLab does not let them see the file's ``variables``), the commit's files and the changed
    paths (None: not known, so ``changes`` is true). Without a context (the command-line lint) rules cannot be
    decided: the file is included, with a warning."""

    variables: Mapping[str, str]
    exists: Callable[[str], bool] | None = None
    changed_paths: list[str] | None = None


class _State:
    def __init__(self, reader: IncludeReader | None, problems: Problems, context: IncludeContext | None) -> None:
        self.reader = reader
        self.context = context
        self.problems = problems
        self.read: list[str] = []
        self.seen: set[tuple[str, str]] = set()  # (path, inputs): a file may be included with several inputs
        self.left_out: list[str] = []


def resolve_includes(
    root: LMap, problems: Problems, read_file: IncludeReader | None, context: IncludeContext | None = None
) -> tuple[LMap, tuple[str, ...], tuple[str, ...]]:
    """``root`` with its includes merged in (and ``include`` removed), the paths read in order, and the includes
    left out because this forge cannot read them (as they are named in the warnings)."""
    state = _State(read_file, problems, context)
    merged = _resolve(root, state, 0, None)
    return merged, tuple(state.read), tuple(state.left_out)


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
    for path, entry_line, given in _local_paths(root["include"], line, state):
        here = anchor if anchor is not None else entry_line
        key = (path, repr(_plain(given)))
        if key in state.seen:
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
        state.seen.add(key)
        if path not in state.read:
            state.read.append(path)
        tree = _read(path, here, entry_line, state, given)
        if tree is not None:
            base = deep_merge(base, _resolve(tree, state, depth + 1, here))
    return deep_merge(base, _without_include(root))


def _plain(value: Any) -> Any:
    """``value`` without line numbers, to tell two includes of one file with the same inputs apart from others."""
    if isinstance(value, dict):
        return sorted((key, _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _read(path: str, anchor: int, line: int, state: _State, given: LMap | None) -> LMap | None:
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
    if tree.spec is not None:
        # The header's own lines are in the included file: placed, so problems name the file and line.
        tree.spec = _place(tree.spec, path, anchor)
        tree.spec_line = SourceLine(tree.spec_line, path, anchor)
    interpolated = apply_inputs(tree, given, f"include {quote(path)}", line, state.problems)
    if interpolated is None:
        return None
    placed = _place(interpolated, path, anchor)
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


def _elsewhere(item: LMap, kind: str, line: int, state: _State) -> None:
    """An include this forge cannot read: a warning naming it; the caller goes on without it."""
    target = item[kind]
    if kind == "template":
        what = f"GitLab's template {quote(target)} is not available on this forge"
    elif kind == "remote":
        what = f"the remote file {quote(target)} is not fetched by this forge"
    elif kind == "component":
        what = f"the CI/CD component {quote(target)} is not available on this forge"
    else:
        files = item.get("file")
        listed = ", ".join(quote(f) for f in files) if isinstance(files, LList) else quote(files)
        what = f"{listed} of the project {quote(target)} {'are' if isinstance(files, LList) else 'is'} not " \
               "available on this forge"
    state.left_out.append(str(target))
    state.problems.warn(line, f"{what}: its jobs are left out, and jobs that extend or need them are left out too")


def _local_paths(value: Any, line: int, state: _State) -> list[tuple[str, int, LMap | None]]:
    """The local files an ``include`` value names, checked, with the line of each entry."""
    problems = state.problems
    entries: list[tuple[Any, int]]
    if isinstance(value, LList):
        entries = [(item, value.item_line(i)) for i, item in enumerate(value)]
    else:
        entries = [(value, line)]
    paths: list[tuple[str, int, LMap | None]] = []
    for item, item_line in entries:
        raw: Any = item
        given: LMap | None = None
        if isinstance(item, LMap):
            kinds = [k for k in ELSEWHERE if k in item]
            if kinds:
                _elsewhere(item, kinds[0], item_line, state)
                continue
            if "local" not in item:
                problems.error(item_line, f"{quote('include')}: each entry needs {quote('local')} (a file of this "
                                          f"repository), not {describe(item)}")
                continue
            unknown = [k for k in item if k not in LOCAL_KEYS]
            if unknown:
                problems.error(item.key_line(unknown[0]), f"{quote('include: ' + unknown[0])} is not a key of "
                                                          "include: local")
                continue
            if "rules" in item and not _included(item, state):
                continue
            if "inputs" in item:
                if not isinstance(item["inputs"], LMap):
                    problems.error(item.key_line("inputs"), f"{quote('include: inputs')} must be a mapping of input "
                                                            f"names to values, not {describe(item['inputs'])}")
                    continue
                given = item["inputs"]
            raw = item["local"]
        if not isinstance(raw, str) or not raw.strip():
            problems.error(item_line, f"{quote('include')} must name files of this repository, not {describe(raw)}")
            continue
        if raw.strip().startswith(("http://", "https://")):
            remote = LMap(item_line)
            remote.put("remote", raw.strip(), item_line)
            _elsewhere(remote, "remote", item_line, state)
            continue
        if state.context is not None and "$" in raw:
            raw = substitute(raw, state.context.variables)
        path = _local_path(raw.strip(), item_line, problems)
        if path is not None:
            paths.append((path, item_line, given))
    return paths


def _included(item: LMap, state: _State) -> bool:
    """``include: [{local: file, rules: [...]}]``: GitLab's first matching rule decides (``when: never`` leaves
    the file out); no rule matching leaves it out too. Only ``if``, ``exists``, ``changes`` and ``when``."""
    where = quote("include")
    items = mapping_items(item["rules"], item.key_line("rules"), where, "rules", state.problems)
    if items is None:
        return False
    rules: list[Rule] = []
    for entry, _ in items:
        if not check_keys(entry, INCLUDE_RULE_KEYS, (), f"{where}: rule", state.problems):
            return False
        parsed = parse_rule(entry, where, ("always", "never"), state.problems)
        if parsed is None:
            return False
        rules.append(parsed)
    context = state.context
    if context is None:
        state.problems.warn(item.key_line("rules"), f"{where}: the rules of {quote(item.get('local'))} are decided "
                                                    "when a pipeline runs; here the file is read as if they matched")
        return True
    for rule in rules:
        if rule.if_expr is not None and not holds(rule.if_expr, context.variables):
            continue
        if rule.exists is not None and context.exists is not None and not any(
            context.exists(substitute(p, context.variables)) for p in rule.exists
        ):
            continue
        if rule.changes is not None and context.changed_paths is not None and not any_matches(
            [substitute(p, context.variables) for p in rule.changes], context.changed_paths
        ):
            continue
        return rule.when != "never"
    return False


def _local_path(raw: str, line: int, problems: Problems) -> str | None:
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
