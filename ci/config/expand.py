"""``$NAME`` and ``${NAME}`` references inside variable values, expanded as GitLab's server does before a job runs.

The file's variables may refer to each other and to the pipeline's variables (predefined ones, and those given to
"Run pipeline"). Like GitLab (``sort_and_expand_all``) references are followed to any depth in dependency order,
and a loop between two or more variables is an error. A variable referring to itself (``PATH: "$PATH:/x"``) and
names nobody defines are left as written: the job's environment may still define them, and a value is never
silently emptied. ``$$`` is a literal ``$``. Scripts are not expanded here — the job's shell does that.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping

REFERENCE_RE = re.compile(r"\$\$|\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)")


class VariableLoop(ValueError):
    """Variables whose values refer to each other in a circle; ``names`` in file order."""

    def __init__(self, names: list[str]) -> None:
        super().__init__("the variables " + ", ".join(f"“{n}”" for n in names) + " refer to each other in a circle")
        self.names = names


def references(value: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in REFERENCE_RE.finditer(value) if m.group() != "$$"]


def substitute(value: str, known: Mapping[str, str], keep: str | None = None) -> str:
    """Replace references to ``known`` names (not ``keep``: a self-reference); ``$$`` becomes ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name != keep and name in known:
            return known[name]
        return match.group()

    return REFERENCE_RE.sub(replace, value)


def expand_all(own: Mapping[str, str], outer: Mapping[str, str]) -> dict[str, str]:
    """Expand every value of ``own`` (the file's variables, in order of precedence already merged).

    A reference resolves to ``outer[name]`` when the pipeline defines it (that is the value the job will see),
    else to the expanded value of ``own[name]``. Raises ``VariableLoop``."""
    done: dict[str, str] = {}
    known = ChainMap(dict(outer), done)  # sees each value as soon as it is expanded
    state: dict[str, int] = {}  # 1: on the current path, 2: expanded

    def depends_on(name: str) -> list[str]:
        return [ref for ref in references(own[name]) if ref != name and ref in own and ref not in outer]

    # Depth-first without recursion, so a long chain of references cannot exhaust Python's stack.
    for first in own:
        if first in state:
            continue
        path = [first]
        pending = [iter(depends_on(first))]
        state[first] = 1
        while pending:
            ref = next(pending[-1], None)
            if ref is None:
                name = path.pop()
                pending.pop()
                done[name] = substitute(own[name], known, keep=name)
                state[name] = 2
            elif state.get(ref) == 1:
                loop = path[path.index(ref):]
                raise VariableLoop(sorted(set(loop), key=list(own).index))
            elif ref not in state:
                state[ref] = 1
                path.append(ref)
                pending.append(iter(depends_on(ref)))
    return {name: done[name] for name in own}
