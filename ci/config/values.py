"""Reading single keyword values: scripts, lists of names, durations, variables, images, booleans.

Every reader gets the value, the line it is written on and a ``where`` prefix naming its place ("job “test”"),
adds a problem and returns None when the value is unusable, so that loading goes on and reports everything.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from ci.config.problems import Problems, quote
from ci.config.spec import Image
from ci.config.yamlfile import LList, LMap, Reference

MAX_NESTING = 10  # GitLab flattens nested lists (from anchors and !reference) up to 10 levels
MAX_TIMEOUT = 30 * 24 * 3600  # GitLab's limit: one month

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("mo", "mos", "month", "months"), 30 * 86400),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * 86400),
}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)")
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d{1,2})")


def check_keys(
    mapping: LMap, known: tuple[str, ...], later: tuple[str, ...], where: str, problems: Problems,
    ignored: tuple[str, ...] = (), accepted: tuple[str, ...] = (),
) -> bool:
    """Report unknown keys (with a "did you mean" when one is close) and keys not supported yet; ``ignored``
    keys are accepted with a warning (they mean something only on GitLab.com or in Kubernetes); ``accepted``
    keys pass without a word here (the caller says what becomes of them)."""
    ok = True
    for key in mapping:
        if key in known or key in accepted:
            continue
        line = mapping.key_line(key)
        if key in ignored:
            problems.warn(line, f"{where}: {quote(key)} has no effect on this forge and is ignored")
            continue
        ok = False
        if key in later:
            problems.error(line, f"{where}: {quote(key)} is not supported yet")
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f"; did you mean {quote(close[0])}?" if close else ""
        if not close and len(known) <= 12:
            hint = f" (known: {', '.join(known)})"
        problems.error(line, f"{where}: unknown key {quote(key)}{hint}")
    return ok


class KeyReader:
    """Reads the keys of one mapping that are present, each with its own reader ``reader(value, line)`` (None when
    the value cannot be used, its problem already reported); ``found`` holds the usable values and ``ok`` turns
    false when any was not."""

    def __init__(self, mapping: LMap) -> None:
        self.mapping = mapping
        self.found: dict[str, Any] = {}
        self.ok = True

    def read(self, key: str, reader: Any) -> None:
        if key not in self.mapping:
            return
        parsed = reader(self.mapping[key], self.mapping.key_line(key))
        if parsed is None:
            self.ok = False
        else:
            self.found[key] = parsed


def mapping_items(value: Any, line: int, where: str, what: str, problems: Problems) -> list[tuple[LMap, int]] | None:
    """A list of mappings (rules, needs-like lists), nested lists spliced in."""
    if not isinstance(value, LList):
        problems.error(line, f"{where}: {quote(what)} must be a list, not {describe(value)}")
        return None
    items = []
    for item, item_line in flatten(value, line, where, quote(what), problems):
        if not isinstance(item, LMap):
            problems.error(item_line, f"{where}: each entry of {quote(what)} must be a mapping, not {describe(item)}")
            continue
        items.append((item, item_line))
    return items


def text(value: Any, line: int, where: str, what: str, problems: Problems, *, empty: bool = False) -> str | None:
    """A single text value (numbers count as text); ``empty`` allows ``""``."""
    result = scalar_text(value)
    if result is None or (not empty and not result.strip()):
        problems.error(line, f"{where}: {quote(what)} must be {'text' if empty else 'a non-empty text'}, "
                             f"not {describe(value)}")
        return None
    return result


def duration(
    value: Any, line: int, where: str, what: str, problems: Problems, *, maximum: int | None = None,
    never: bool = False,
) -> tuple[int | None] | None:
    """A GitLab duration ("1 week", "30 mins", "2h 20min", 3600) in seconds, wrapped in a 1-tuple so that
    ``never`` (allowed when ``never`` is true) can be ``(None,)``; None when unusable."""
    if never and isinstance(value, str) and value.strip().lower() == "never":
        return (None,)
    try:
        seconds = parse_duration(value)
    except ValueError:
        problems.error(line, f"{where}: {quote(what)} must be a duration such as “30 mins”, “1 week” or "
                             f"“2h 20min”{' or never' if never else ''}, not {describe(value)}")
        return None
    if seconds < 0 or (maximum is not None and seconds > maximum):
        limit = f" and at most {_say_duration(maximum)}" if maximum is not None else ""
        problems.error(line, f"{where}: {quote(what)} must be 0 or more{limit} ({value})")
        return None
    return (seconds,)


def _say_duration(seconds: int) -> str:
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def scalar_text(value: Any) -> str | None:
    """A YAML scalar as GitLab turns it into text (numbers allowed, booleans and null are not)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def describe(value: Any) -> str:
    """A value's kind, as a user would name it in YAML."""
    if isinstance(value, LMap | dict):
        return "a mapping"
    if isinstance(value, LList | list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "empty (null)"
    if isinstance(value, Reference):
        return f"an unresolved {value}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the text {quote(value)}"


def flatten(value: Any, line: int, where: str, what: str, problems: Problems, depth: int = 0) -> list[tuple[Any, int]]:
    """Items of a list with nested lists spliced in (anchors and !reference make them), with their lines."""
    if depth > MAX_NESTING:
        problems.error(line, f"{where}: {what} nests lists more than {MAX_NESTING} levels deep")
        return []
    if not isinstance(value, LList):
        return [(value, line)]
    items: list[tuple[Any, int]] = []
    for index, item in enumerate(value):
        if isinstance(item, LList):
            items.extend(flatten(item, value.item_line(index), where, what, problems, depth + 1))
        else:
            items.append((item, value.item_line(index)))
    return items


def text_list(value: Any, line: int, where: str, what: str, problems: Problems) -> tuple[str, ...] | None:
    """A string or a (nested) list of strings; numbers count as text."""
    if isinstance(value, LMap) or value is None:
        problems.error(line, f"{where}: {quote(what)} must be a list of names, not {describe(value)}")
        return None
    result: list[str] = []
    ok = True
    for item, item_line in flatten(value, line, where, quote(what), problems):
        text = scalar_text(item)
        if text is None:
            problems.error(item_line, f"{where}: each entry of {quote(what)} must be text, not {describe(item)}")
            ok = False
        else:
            result.append(text)
    return tuple(result) if ok else None


def script(value: Any, line: int, where: str, what: str, problems: Problems) -> tuple[str, ...] | None:
    """``script``/``before_script``/``after_script``: a string or a (nested) list of strings."""
    if isinstance(value, LMap):
        problems.error(
            line, f"{where}: {quote(what)} must be a command or a list of commands, not a mapping "
            "(a command containing “: ” must be quoted)"
        )
        return None
    lines: list[str] = []
    ok = True
    for item, item_line in flatten(value, line, where, quote(what), problems):
        if isinstance(item, str):
            lines.append(item)
            continue
        ok = False
        if isinstance(item, LMap):
            problems.error(
                item_line,
                f"{where}: a line of {quote(what)} is read as a mapping because it contains “: ”; "
                "put the whole command in quotes",
            )
        else:
            problems.error(
                item_line, f"{where}: each line of {quote(what)} must be a command (text), not {describe(item)}; "
                "put it in quotes",
            )
    return tuple(lines) if ok else None


def boolean(value: Any, line: int, where: str, what: str, problems: Problems) -> bool | None:
    if isinstance(value, bool):
        return value
    problems.error(line, f"{where}: {quote(what)} must be true or false, not {describe(value)}")
    return None


def one_of(value: Any, line: int, where: str, what: str, allowed: tuple[str, ...], problems: Problems) -> str | None:
    if isinstance(value, str) and value in allowed:
        return value
    problems.error(
        line, f"{where}: {quote(what)} must be one of {', '.join(allowed)}, not {describe(value)}"
    )
    return None


def parse_duration(value: Any) -> int:
    """Seconds in ``3600``, ``"3600"``, ``"1h 30m"``, ``"90 minutes"``, ``"1 hour and 30 minutes"``, ``"1:30:00"``
    (the forms of GitLab's ChronicDuration that people write); raises ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        return round(value)
    text = value.strip().lower()
    clock = _CLOCK.fullmatch(text)
    if clock:
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        return hours * 3600 + minutes * 60 + seconds
    text = re.sub(r"[,]|\band\b", " ", text)
    total = 0.0
    position = 0
    found = False
    for match in _PART.finditer(text):
        if text[position : match.start()].strip():
            raise ValueError("not a duration")
        unit = match.group(2)
        if unit and unit not in _UNITS:
            raise ValueError(f"unknown unit {unit}")
        total += float(match.group(1)) * (_UNITS[unit] if unit else 1)
        position = match.end()
        found = True
    if not found or text[position:].strip():
        raise ValueError("not a duration")
    return round(total)


def timeout(value: Any, line: int, where: str, problems: Problems) -> int | None:
    try:
        seconds = parse_duration(value)
    except ValueError:
        problems.error(
            line, f"{where}: {quote('timeout')} must be a duration such as “1h 30m”, “90 minutes” or 3600, "
            f"not {describe(value)}"
        )
        return None
    if seconds <= 0 or seconds > MAX_TIMEOUT:
        problems.error(line, f"{where}: {quote('timeout')} must be more than 0 and at most one month ({value})")
        return None
    return seconds


_VARIABLE_KEYS = ("value", "description", "expand", "options")


def variables(value: Any, line: int, where: str, problems: Problems) -> dict[str, str] | None:
    """``variables:``: name → text, number, boolean (``true``/``false``, as GitLab reads them), or
    ``{value, description, expand, options}``.

    A value with ``expand: false`` has each ``$`` doubled: ``$$`` is the escape for a literal ``$`` that the
    planner's expansion turns back into one ``$`` (GitLab's escape too), so the raw text reaches the job."""
    if value is None:
        return {}
    if not isinstance(value, LMap):
        problems.error(
            line, f"{where}: {quote('variables')} must be a mapping of names to values, not {describe(value)}"
        )
        return None
    result: dict[str, str] = {}
    ok = True
    for name, raw in value.items():
        name_line = value.key_line(name)
        if not name or "=" in name or "\0" in name:
            problems.error(name_line, f"{where}: {quote(name)} is not a usable variable name")
            ok = False
            continue
        expand = True
        if isinstance(raw, LMap):
            for key in raw:
                if key not in _VARIABLE_KEYS:
                    problems.error(
                        raw.key_line(key), f"{where}: variable {quote(name)} has the unknown key {quote(key)} "
                        f"(known: {', '.join(_VARIABLE_KEYS)})"
                    )
                    ok = False
            if "expand" in raw:
                flag = boolean(raw["expand"], raw.key_line("expand"), where, f"{name}: expand", problems)
                expand = flag is not False
            if "description" in raw and scalar_text(raw["description"]) is None:
                problems.error(raw.key_line("description"), f"{where}: the description of {quote(name)} must be text")
                ok = False
            options: tuple[str, ...] | None = None
            if "options" in raw:
                options = text_list(raw["options"], raw.key_line("options"), where, f"{name}: options", problems)
            raw_value = raw.get("value", "")
            text = scalar_text(raw_value)
            raw_line = raw.key_line("value")
            if text is not None and options is not None and text not in options:
                problems.error(raw_line, f"{where}: the value of {quote(name)} must be one of its options")
                ok = False
        else:
            text = scalar_text(raw)
            raw_line = name_line
            raw_value = raw
        if text is None and isinstance(raw_value, bool):
            # GitLab takes YAML booleans as the text Ruby prints for them ("true"/"false"; an unquoted yes is true).
            text = "true" if raw_value else "false"
        if text is None:
            problems.error(raw_line, f"{where}: variable {quote(name)} must be text or a number, not "
                                     f"{describe(raw_value)}")
            ok = False
            continue
        result[name] = text if expand else text.replace("$", "$$")
    return result if ok else None


_IMAGE_KEYS = ("name", "entrypoint", "pull_policy")
_IMAGE_IGNORED = ("docker", "kubernetes")
_PULL_POLICIES = ("always", "if-not-present", "never")


def image(value: Any, line: int, where: str, problems: Problems) -> Image | None:
    """``image: name`` or ``image: {name, entrypoint}``."""
    if isinstance(value, str):
        if not value.strip():
            problems.error(line, f"{where}: {quote('image')} is empty")
            return None
        return Image(value)
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('image')} must be an image name or {{name, entrypoint}}, "
                             f"not {describe(value)}")
        return None
    ok = True
    for key in value:
        if key in _IMAGE_IGNORED:
            problems.warn(value.key_line(key), f"{where}: {quote('image: ' + key)} has no effect on this forge and "
                                               "is ignored")
        elif key not in _IMAGE_KEYS:
            problems.error(value.key_line(key), f"{where}: {quote('image')} has the unknown key {quote(key)} "
                                                "(known: name, entrypoint, pull_policy)")
            ok = False
    if "pull_policy" in value:
        # Accepted for compatibility: the runner pulls an image only when it is missing (if-not-present).
        policies = text_list(value["pull_policy"], value.key_line("pull_policy"), where, "pull_policy", problems)
        if policies is None or not policies or any(p not in _PULL_POLICIES for p in policies):
            if policies is not None:
                problems.error(value.key_line("pull_policy"), f"{where}: {quote('pull_policy')} must be "
                                                              f"{', '.join(_PULL_POLICIES)} or a list of them")
            ok = False
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.error(value.line, f"{where}: {quote('image')} needs a {quote('name')}")
        return None
    entrypoint: tuple[str, ...] | None = None
    if "entrypoint" in value:
        raw = value["entrypoint"]
        entry_line = value.key_line("entrypoint")
        if not isinstance(raw, LList):
            problems.error(
                entry_line, f"{where}: {quote('entrypoint')} must be a list such as [\"\"] or [\"/bin/sh\", \"-c\"]"
            )
            return None
        entrypoint = text_list(raw, entry_line, where, "entrypoint", problems)
        if entrypoint is None:
            return None
    return Image(name, entrypoint) if ok else None
