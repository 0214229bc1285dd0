"""YAML with line numbers: the pipeline file as plain dicts and lists that remember where each key and item was.

PyYAML's SafeLoader does the YAML work (anchors, aliases, ``<<:`` merges); our constructors only record the line of
every mapping, key and list item, turn GitLab's ``!reference [job, key]`` tag into a ``Reference`` placeholder
(resolved later, after ``extends``, as GitLab does) and read timestamps as the text they are written as. Before
anything is built, the node graph is measured: aliases make small files expand into huge (or endless, when an
anchor contains itself) structures, and the server reads files anyone with push access writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ci.config.problems import Problems, quote
from ci.config.spec import ConfigError, ConfigErrors

MAX_BYTES = 2 * 1024 * 1024
# Counting every node an alias repeats; a large real file is a few tens of thousands.
MAX_EXPANDED_NODES = 250_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class LMap(dict[str, Any]):
    """A YAML mapping: ``line`` is where it starts, ``key_lines`` where each key is written."""

    def __init__(self, line: int = 0, key_lines: dict[str, int] | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = dict(key_lines or {})
        # A file's ``spec:`` header (the document before ``---``), kept apart from its keywords and jobs.
        self.spec: LMap | None = None
        self.spec_line = 0

    def key_line(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def put(self, key: str, value: Any, line: int) -> None:
        self[key] = value
        self.key_lines[key] = line


class LList(list[Any]):
    """A YAML sequence: ``line`` is where it starts, ``item_lines[i]`` where item ``i`` is written."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def add(self, value: Any, line: int) -> None:
        self.append(value)
        self.item_lines.append(line)

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


@dataclass(frozen=True)
class Reference:
    """``!reference [.job, key, ...]``: replaced by the value at that path once ``extends`` is applied."""

    path: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        return "!reference [" + ", ".join(self.path) + "]"


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


# libyaml's parser when PyYAML has it (several times faster on large files); the constructors are ours either way.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    problems: Problems


def _construct_map(loader: _Loader, node: MappingNode) -> Iterator[LMap]:
    data = LMap(_line(node))
    yield data
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, ScalarNode) and key_node.tag != MERGE_TAG:
            if key_node.value in seen:
                # GitLab (like PyYAML) keeps the last one silently; it is almost always a mistake, so say it.
                loader.problems.warn(
                    _line(key_node),
                    f"{quote(key_node.value)} is written twice in this mapping (also line {seen[key_node.value]}); "
                    "the last one is used",
                )
            seen[key_node.value] = _line(key_node)
    loader.flatten_mapping(node)  # resolves <<: merges; merged pairs come first so explicit keys win
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            loader.problems.error(
                _line(key_node),
                f"the key {quote(key_node.value)} is read as {type(key).__name__}, not text; put it in quotes",
            )
            continue
        data.put(key, loader.construct_object(value_node, deep=True), _line(key_node))


def _construct_seq(loader: _Loader, node: SequenceNode) -> Iterator[LList]:
    data = LList(_line(node))
    yield data
    for item in node.value:
        data.add(loader.construct_object(item, deep=True), _line(item))


def _construct_reference(loader: _Loader, node: Node) -> Reference | None:
    if isinstance(node, SequenceNode) and node.value and all(isinstance(n, ScalarNode) for n in node.value):
        return Reference(tuple(str(n.value) for n in node.value), _line(node))
    loader.problems.error(_line(node), "!reference must be followed by a list of keys, such as [.setup, script]")
    return None


def _construct_text(loader: _Loader, node: Node) -> str:
    # Dates and times stay as written (GitLab refuses them; a variable value such as 2024-01-01 is meant as text).
    return str(node.value)


def _construct_unknown(loader: _Loader, node: Node) -> str | None:
    loader.problems.error(_line(node), f"the YAML tag {quote(node.tag)} is not supported")
    # The text stands in for the value, so the tag is the only problem reported for it.
    return str(node.value) if isinstance(node, ScalarNode) else None


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)
_Loader.add_constructor("!reference", _construct_reference)
_Loader.add_constructor(None, _construct_unknown)


def _measure(root: Node) -> None:
    """Refuse alias loops and alias bombs before building anything (sizes memoised per node: linear time)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigErrors([ConfigError(_line(node), "an alias here refers to a node that contains it")])
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise ConfigErrors(
                [ConfigError(_line(node), "the file expands to too much data through its aliases (“*name”)")]
            )
        sizes[key] = total
        return total

    size(root)


def read_yaml(text: str, filename: str) -> tuple[LMap, Problems]:
    """Parse ``text``; raises ``ConfigErrors`` when it is not YAML or not a mapping at the top. The returned
    problems may already hold errors (bad keys, unknown tags) that later steps add to. A ``spec:`` header
    document (GitLab's ``spec: inputs``) is kept in the mapping's ``spec`` attribute, for ``ci.config.inputs``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigErrors([ConfigError(None, f"{filename} is larger than {MAX_BYTES // 1024 // 1024} MiB")])
    loader = _Loader(text)
    loader.problems = Problems()
    documents: list[Any] = []
    try:
        nodes: list[Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        if not nodes:
            raise ConfigErrors([ConfigError(None, f"{filename} is empty; it needs at least one job with a script")])
        for node in nodes:
            _measure(node)
            documents.append(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        raise ConfigErrors([_yaml_error(exc, text)]) from None
    except yaml.YAMLError as exc:
        raise ConfigErrors([ConfigError(None, f"the file is not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigErrors([ConfigError(None, "the file is nested too deeply")]) from None
    finally:
        loader.dispose()
    data = _with_header(documents, nodes)
    if not isinstance(data, LMap):
        raise ConfigErrors([ConfigError(1, "the file must be a mapping of keywords and jobs (“name: …” lines)")])
    return data, loader.problems


def _with_header(documents: list[Any], nodes: list[Node]) -> Any:
    """One document, or GitLab's ``spec:`` header document followed by ``---`` and the configuration."""
    if len(documents) == 1:
        return documents[0]
    header = documents[0]
    if len(documents) > 2 or not isinstance(header, LMap) or set(header) != {"spec"}:
        raise ConfigErrors([ConfigError(_line(nodes[1]), "the file holds several YAML documents (“---”); only a "
                                                         "“spec:” header may come before the configuration")])
    data = documents[1]
    if isinstance(data, LMap):
        spec = header["spec"]
        data.spec = spec if isinstance(spec, LMap) else LMap(header.key_line("spec"))
        data.spec_line = header.key_line("spec")
    return data


def _yaml_error(exc: yaml.MarkedYAMLError, text: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    line = int(mark.line) + 1 if mark is not None else None
    reason = exc.problem or "invalid YAML"
    if exc.context:
        reason = f"{reason} ({exc.context}"
        if exc.context_mark is not None and exc.problem_mark is not None and exc.context_mark.line != mark.line:
            reason += f" at line {exc.context_mark.line + 1}"
        reason += ")"
    column = f", column {mark.column + 1}" if mark is not None else ""
    hint = ""
    if mark is not None and "\t" in "".join(text.splitlines()[max(mark.line - 1, 0) : mark.line + 1]):
        hint = "; YAML does not allow tabs for indentation, use spaces"
    return ConfigError(line, f"the file is not valid YAML: {reason}{column}{hint}")
