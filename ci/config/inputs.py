"""GitLab's ``spec: inputs``: a file's header (the YAML document before ``---``) declares inputs, and
``$[[ inputs.name ]]`` in the file is replaced by their values before anything else reads it.

An included file gets its inputs from ``include: [{local: file.yml, inputs: {...}}]``; the pipeline file itself
takes each input's ``default`` (inputs given when a pipeline is started by hand are not supported here yet). An
input without a default must be given. ``type`` (``string``, the default, ``number``, ``boolean``, ``array``),
``options`` and ``regex`` are checked as GitLab checks them. A value that is the whole text of a scalar keeps its
type (``allow_failure: $[[ inputs.flaky ]]`` is a boolean); inside longer text it is written out (``true``,
``3``). The functions ``truncate(offset, length)``, ``posix_escape`` and ``expand_vars`` (the value's ``$VAR``
are left for the usual expansion, which happens later anyway) can follow a ``|``. Interpolation happens in keys
too (``$[[ inputs.job_name ]]:`` names a job). Without a header the text is left as written, as in GitLab.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ci.config.expressions import ExpressionError, compile_pattern
from ci.config.problems import Problems, quote
from ci.config.values import check_keys, describe
from ci.config.yamlfile import LList, LMap, Reference

INPUT_KEYS = ("default", "description", "options", "regex", "type")
SPEC_KEYS = ("inputs",)
SPEC_IGNORED = ("component", "include")
TYPES = ("string", "number", "boolean", "array")
BLOCK = re.compile(r"\$\[\[\s*(.*?)\s*\]\]")
MAX_BLOCKS = 3  # GitLab allows at most three interpolation blocks in one value
_TRUNCATE = re.compile(r"truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)")


class _Failed(Exception):
    pass


def apply_inputs(
    root: LMap, given: LMap | None, where: str, line: int, problems: Problems, *, included: bool = True
) -> LMap | None:
    """``root`` with its header's inputs interpolated; ``given`` are the ``inputs`` of the ``include`` entry at
    ``line`` (``included`` false: the pipeline file itself, whose inputs take their defaults). None when the inputs
    are wrong (reported): the file's text cannot be used then."""
    header = root.spec
    if header is None:
        if given:
            problems.error(line, f"{where}: {quote('inputs')} are given, but the file has no {quote('spec: inputs')} "
                                 "header to receive them")
            return None
        return root
    values = _values(header, given, where, root.spec_line or line, line if included else 0, problems)
    if values is None:
        return None
    try:
        result = _walk(root, values, where)
    except _Failed as exc:
        problems.error(line, str(exc))
        return None
    assert isinstance(result, LMap)
    return result


def _values(
    header: LMap, given: LMap | None, where: str, line: int, include_line: int, problems: Problems
) -> dict[str, Any] | None:
    """The value of each declared input; problems of the header at ``line``, missing inputs at the include."""
    check_keys(header, SPEC_KEYS, (), f"{where}: {quote('spec')}", problems, ignored=SPEC_IGNORED)
    declared = header.get("inputs")
    if declared is None:
        declared = LMap(line)
    if not isinstance(declared, LMap):
        problems.error(line, f"{where}: {quote('spec: inputs')} must be a mapping of inputs, not {describe(declared)}")
        return None
    provided = given if given is not None else LMap(line)
    ok = True
    for name in provided:
        if name not in declared:
            problems.error(provided.key_line(name), f"{where}: the input {quote(name)} is not declared in the "
                                                    f"file's {quote('spec: inputs')}")
            ok = False
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec_line = declared.key_line(name)
        if spec is None:
            spec = LMap(spec_line)
        if not isinstance(spec, LMap):
            problems.error(spec_line, f"{where}: the input {quote(name)} must be a mapping such as "
                                      f"{{default: ..., type: string}}, not {describe(spec)}")
            ok = False
            continue
        if not check_keys(spec, INPUT_KEYS, (), f"{where}: input {quote(name)}", problems):
            ok = False
            continue
        if name in provided:
            value, value_line = provided[name], provided.key_line(name)
        elif "default" in spec:
            value, value_line = spec["default"], spec.key_line("default")
        else:
            problems.error(include_line or line, f"{where}: the input {quote(name)} has no default, so it must be "
                                                 "given")
            ok = False
            continue
        checked = _check(name, value, spec, where, value_line, problems)
        if checked is None:
            ok = False
        else:
            values[name] = checked[0]
    return values if ok else None


def _check(name: str, value: Any, spec: LMap, where: str, line: int, problems: Problems) -> tuple[Any] | None:
    kind = spec.get("type", "string")
    if kind not in TYPES:
        problems.error(spec.key_line("type"), f"{where}: the input {quote(name)} has the type {quote(kind)}; "
                                              f"known: {', '.join(TYPES)}")
        return None
    fits = {
        "string": isinstance(value, str) or value is None,
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, LList),
    }[kind]
    if not fits:
        problems.error(line, f"{where}: the input {quote(name)} must be a {kind}, not {describe(value)}")
        return None
    if value is None:
        value = ""
    options = spec.get("options")
    if options is not None and (not isinstance(options, LList) or value not in options):
        problems.error(line, f"{where}: the input {quote(name)} must be one of its options, not {describe(value)}")
        return None
    if "regex" in spec and isinstance(value, str):
        try:
            matched = compile_pattern(str(spec["regex"])).search(value) is not None
        except ExpressionError as exc:
            problems.error(spec.key_line("regex"), f"{where}: the input {quote(name)}: {exc}")
            return None
        if not matched:
            problems.error(line, f"{where}: the input {quote(name)} does not match {spec['regex']}")
            return None
    return (value,)


def _walk(value: Any, inputs: dict[str, Any], where: str) -> Any:
    if isinstance(value, str):
        return _interpolate(value, inputs, where)
    if isinstance(value, LMap):
        copy = LMap(value.line)
        for key, item in value.items():
            new_key = _interpolate(key, inputs, where)
            if not isinstance(new_key, str):
                new_key = _text(new_key)
            copy.put(new_key, _walk(item, inputs, where), value.key_line(key))
        return copy
    if isinstance(value, LList):
        items = LList(value.line)
        for index, item in enumerate(value):
            items.add(_walk(item, inputs, where), value.item_line(index))
        return items
    if isinstance(value, Reference):
        return Reference(tuple(str(_interpolate(p, inputs, where)) for p in value.path), value.line)
    return value


def _interpolate(text: str, inputs: dict[str, Any], where: str) -> Any:
    blocks = [m for m in BLOCK.finditer(text) if m.group(1).startswith("inputs.")]
    if not blocks:
        return text
    if len(blocks) > MAX_BLOCKS:
        raise _Failed(f"{where}: {quote(text[:60])} holds more than {MAX_BLOCKS} “$[[ ]]” blocks")
    if len(blocks) == 1 and blocks[0].span() == (0, len(text)):
        return _evaluate(blocks[0].group(1), inputs, where)
    out, position = [], 0
    for match in blocks:
        out.append(text[position:match.start()])
        out.append(_text(_evaluate(match.group(1), inputs, where)))
        position = match.end()
    out.append(text[position:])
    return "".join(out)


def _evaluate(expression: str, inputs: dict[str, Any], where: str) -> Any:
    parts = [part.strip() for part in expression.split("|")]
    name = parts[0].removeprefix("inputs.")
    if name not in inputs:
        raise _Failed(f"{where}: “$[[ {expression} ]]” names the input {quote(name)}, which the file's "
                      f"{quote('spec: inputs')} does not declare")
    value = inputs[name]
    for function in parts[1:]:
        truncate = _TRUNCATE.fullmatch(function)
        if truncate:
            start, length = int(truncate.group(1)), int(truncate.group(2))
            value = _text(value)[start:start + length]
        elif function == "posix_escape":
            value = shlex.quote(_text(value))
        elif function == "expand_vars":
            value = _text(value)
        else:
            raise _Failed(f"{where}: “$[[ {expression} ]]” uses the unknown function {quote(function)} (known: "
                          "expand_vars, truncate(offset, length), posix_escape)")
    return value


def _text(value: Any) -> str:
    """How GitLab writes a value into text (Ruby's to_s for booleans, JSON-like for arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, LList):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    return str(value)
