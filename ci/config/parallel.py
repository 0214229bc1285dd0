"""``parallel``: the instances a job becomes, named as GitLab names them.

``parallel: 3`` makes ``test 1/3``, ``test 2/3``, ``test 3/3``; ``parallel: matrix`` makes one instance per
combination, named by its values in the order the variables are written (``test: [3.12, postgres]``). Each
instance gets ``CI_NODE_INDEX`` and ``CI_NODE_TOTAL`` (and its matrix variables). ``needs`` or ``dependencies``
naming a parallel job mean all of its instances; ``needs:parallel:matrix`` picks some, and may use GitLab's matrix
expressions (``$[[ matrix.OS ]]``: the needing instance's own value) to pair instances one to one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ci.config.spec import JobConfig

MATRIX_EXPRESSION_RE = re.compile(r"\$\[\[\s*matrix\.([A-Za-z_][A-Za-z0-9_]*)\s*\]\]")


@dataclass(frozen=True)
class Instance:
    name: str
    index: int | None  # 1-based; None for a job without parallel
    total: int | None
    matrix: tuple[tuple[str, str], ...] = ()  # the instance's matrix variables, in written order


def matrix_name(base: str, values: list[str] | tuple[str, ...]) -> str:
    return f"{base}: [{', '.join(values)}]"


def instances(job: JobConfig) -> list[Instance]:
    spec = job.parallel
    if spec is None:
        return [Instance(job.name, None, None)]
    if spec.matrix is None:
        return [Instance(f"{job.name} {i}/{spec.total}", i, spec.total) for i in range(1, spec.total + 1)]
    return [
        Instance(matrix_name(job.name, [value for _, value in combo]), i, spec.total, combo)
        for i, combo in enumerate(spec.matrix, start=1)
    ]


def matrix_selection(
    entries: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...], own: Mapping[str, str]
) -> list[dict[str, str]]:
    """The combinations ``needs:parallel:matrix`` asks for (lists expanded, in order), with matrix expressions
    replaced by the needing instance's values ``own`` (left as written when ``own`` lacks the name)."""

    def resolve(value: str) -> str:
        return MATRIX_EXPRESSION_RE.sub(lambda m: own.get(m.group(1), m.group()), value)

    wanted: list[dict[str, str]] = []
    for entry in entries:
        axes = [[(name, resolve(value)) for value in listed] for name, listed in entry]
        wanted.extend(dict(combo) for combo in itertools.product(*axes))
    return wanted
