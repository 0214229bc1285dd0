"""Putting jobs together before they are checked: ``extends`` (then ``!reference``), as GitLab does it.

``extends`` deep-merges: a job's mappings (``variables``, ``image: {…}``) are merged key by key into its bases',
anything else (lists such as ``script`` or ``rules``, and plain values) replaces the base's. With several bases
(``extends: [.a, .b]``) the later one wins, and the job itself wins over all. Bases may extend others, up to 10
levels; a loop is an error naming the chain. ``!reference [.job, key]`` tags are resolved afterwards on the
extended file, so they see inherited keys. ``default:`` is applied later, per keyword, by the schema: a job's own
keyword replaces the default's wholesale (no merge), which is GitLab's rule too.

Merged mappings keep the line of each key where it is written, so a problem in an inherited key points at the base.
"""

from __future__ import annotations

from typing import Any

from ci.config.problems import Problems, quote
from ci.config.values import describe
from ci.config.yamlfile import LList, LMap, Reference

MAX_EXTENDS_DEPTH = 10
MAX_REFERENCE_DEPTH = 10


def deep_merge(base: LMap, override: LMap) -> LMap:
    merged = LMap(override.line or base.line)
    for key, value in base.items():
        merged.put(key, value, base.key_line(key))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, LMap) and isinstance(value, LMap):
            value = deep_merge(current, value)
        merged.put(key, value, override.key_line(key))
    return merged


def _extends_names(entry: LMap, name: str, problems: Problems) -> list[str] | None:
    raw = entry["extends"]
    line = entry.key_line("extends")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, LList) and raw and all(isinstance(item, str) for item in raw):
        return list(raw)
    problems.error(line, f"{quote(name)}: {quote('extends')} must name a job or list jobs, not {describe(raw)}")
    return None


def apply_extends(
    root: LMap, names: list[str], problems: Problems, missing: dict[str, str] | None = None
) -> dict[str, Any]:
    """Each of ``names`` (top-level keys: jobs and hidden jobs) with its ``extends`` applied and removed.

    ``missing``, when given (some includes could not be read), collects instead of reporting each name whose
    ``extends`` chain reaches a base that is not defined: name → that base."""
    done: dict[str, Any] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Any:
        if name in done:
            return done[name]
        entry = root[name]
        if not isinstance(entry, LMap) or "extends" not in entry:
            done[name] = entry
            return entry
        line = entry.key_line("extends")
        own = LMap(entry.line)
        for key, value in entry.items():
            if key != "extends":
                own.put(key, value, entry.key_line(key))
        bases = _extends_names(entry, name, problems)
        if bases is None:
            done[name] = own
            return own
        if len(chain) >= MAX_EXTENDS_DEPTH:
            problems.error(line, f"{quote(chain[0])}: {quote('extends')} is nested more than "
                                 f"{MAX_EXTENDS_DEPTH} levels deep")
            done[name] = own
            return own
        merged = LMap(entry.line)
        for base_name in bases:
            if base_name in chain or base_name == name:
                loop = " → ".join((*chain, name, base_name)[list((*chain, name)).index(base_name):])
                problems.error(line, f"{quote(name)}: {quote('extends')} goes round in a circle: {loop}")
                continue
            if base_name not in root:
                if missing is not None:
                    missing.setdefault(name, base_name)
                    continue
                problems.error(line, f"{quote(name)}: {quote('extends')} names {quote(base_name)}, which is not "
                                     "defined in this file")
                continue
            base = resolve(base_name, (*chain, name))
            if missing is not None and base_name in missing:
                missing.setdefault(name, missing[base_name])
            if not isinstance(base, LMap):
                problems.error(line, f"{quote(name)}: {quote('extends')} names {quote(base_name)}, which is "
                                     f"{describe(base)}, not a job")
                continue
            merged = deep_merge(merged, base)
        result = deep_merge(merged, own)
        done[name] = result
        return result

    return {name: resolve(name, ()) for name in names}


_UNRESOLVED = object()  # a reference to something an unreadable include probably defines


def resolve_references(root: LMap, problems: Problems, missing: dict[str, Reference] | None = None) -> LMap:
    """A copy of ``root`` with every ``!reference`` replaced by the value it points at.

    ``missing``, when given (some includes could not be read), collects instead of reporting the first reference
    to an undefined place under each top-level key (key → reference); the reference is dropped from its list or
    mapping, and the caller decides what becomes of the key."""
    top: list[str] = [""]

    def lookup(ref: Reference, stack: tuple[tuple[str, ...], ...]) -> Any:
        if ref.path in stack:
            problems.error(ref.line, f"{ref} is part of a circular chain of references")
            return None
        if len(stack) >= MAX_REFERENCE_DEPTH:
            problems.error(ref.line, f"{ref}: references are nested more than {MAX_REFERENCE_DEPTH} levels deep")
            return None
        value: Any = root
        for depth, key in enumerate(ref.path):
            if not isinstance(value, LMap) or key not in value:
                if missing is not None:
                    missing.setdefault(top[0], ref)
                    return _UNRESOLVED
                where = " in " + quote(".".join(ref.path[:depth])) if depth else ""
                problems.error(ref.line, f"{ref}: {quote(key)} is not defined{where}")
                return None
            value = value[key]
        return walk(value, (*stack, ref.path))

    def walk(value: Any, stack: tuple[tuple[str, ...], ...]) -> Any:
        if isinstance(value, Reference):
            return lookup(value, stack)
        if isinstance(value, LMap):
            copy = LMap(value.line)
            for key, item in value.items():
                resolved = walk(item, stack)
                if resolved is not _UNRESOLVED:
                    copy.put(key, resolved, value.key_line(key))
            return copy
        if isinstance(value, LList):
            items = LList(value.line)
            for index, item in enumerate(value):
                resolved = walk(item, stack)
                if resolved is not _UNRESOLVED:
                    items.add(resolved, value.item_line(index))
            return items
        return value

    result = LMap(root.line)
    for key, value in root.items():
        top[0] = key
        resolved = walk(value, ())
        result.put(key, None if resolved is _UNRESOLVED else resolved, root.key_line(key))
    return result
