"""Layout of a pipeline's dependency graph (the "needs" view of the pipeline page).

Pure geometry, no database: each job gets a column (its layer: how many jobs it waits for in a chain) and a row,
and each dependency an SVG path from the right edge of one box to the left edge of another. The page draws the
boxes as HTML (so they keep their links, icons and play buttons) over one SVG of the edges; computing the
coordinates here keeps the page free of JavaScript and the layout testable.

A job with ``needs`` waits for the jobs it names (solid edges); a job without waits for the earlier stages, drawn
as dashed edges from the jobs of the nearest earlier stage, which in turn wait for theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

BOX_WIDTH = 210
BOX_HEIGHT = 40
GAP_X = 56
GAP_Y = 12


class GraphJob(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def stage_index(self) -> int: ...
    @property
    def needs(self) -> list[str] | None: ...


@dataclass(frozen=True)
class Node:
    name: str
    layer: int
    row: int
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    implicit: bool  # stage order, not a ``needs`` entry
    path: str  # SVG path data


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    width: int
    height: int


def _predecessors(jobs: Sequence[GraphJob]) -> dict[str, tuple[list[str], bool]]:
    """Each job's direct prerequisites to draw, and whether they come from stage order."""
    names = {j.name for j in jobs}
    result: dict[str, tuple[list[str], bool]] = {}
    for job in jobs:
        if job.needs is not None:
            # Names missing from the pipeline are optional needs that were not created: nothing to draw.
            result[job.name] = ([n for n in job.needs if n in names and n != job.name], False)
            continue
        earlier = [j.stage_index for j in jobs if j.stage_index < job.stage_index]
        nearest = max(earlier, default=None)
        result[job.name] = ([j.name for j in jobs if j.stage_index == nearest], True)
    return result


def _layers(jobs: Sequence[GraphJob], preds: dict[str, tuple[list[str], bool]]) -> dict[str, int]:
    layer: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(name: str) -> int:
        if name in layer:
            return layer[name]
        if name in visiting:  # a cycle cannot pass validation; stop rather than recurse forever
            return 0
        visiting.add(name)
        value = 1 + max((depth(p) for p in preds[name][0]), default=-1)
        visiting.discard(name)
        layer[name] = value
        return value

    for job in jobs:
        depth(job.name)
    return layer


Slot = tuple[str, int, int]  # ("job", job index, 0) or ("via", edge index, layer): one box-sized place in a column


def _curve(x1: int, y1: int, x2: int, y2: int) -> str:
    bend = GAP_X // 2
    return f"C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"


def layout(jobs: Sequence[GraphJob]) -> Layout:
    """Place ``jobs`` (one attempt per name, in stage and file order) in layers, left to right.

    An edge that skips columns passes through an empty place in each column it crosses (a "via" slot, as in
    Sugiyama's layered drawing), so it never runs behind another job's box and seems to end there."""
    preds = _predecessors(jobs)
    layers = _layers(jobs, preds)
    index = {j.name: i for i, j in enumerate(jobs)}
    links = [(p, job.name, preds[job.name][1]) for job in jobs for p in preds[job.name][0]]
    columns: dict[int, list[Slot]] = {}
    before: dict[Slot, list[Slot]] = {}  # the slots each slot is drawn from, for ordering
    routes: list[list[Slot]] = []
    for job in jobs:
        columns.setdefault(layers[job.name], []).append(("job", index[job.name], 0))
    for number, (source, target, _) in enumerate(links):
        route: list[Slot] = [("job", index[source], 0)]
        for layer in range(layers[source] + 1, layers[target]):
            via: Slot = ("via", number, layer)
            columns.setdefault(layer, []).append(via)
            before[via] = [route[-1]]
            route.append(via)
        target_slot: Slot = ("job", index[target], 0)
        before.setdefault(target_slot, []).append(route[-1])
        route.append(target_slot)
        routes.append(route)
    rows: dict[Slot, int] = {}
    for layer in sorted(columns):
        members = columns[layer]
        if layer > 0:
            # Barycentre ordering: a job sits near what it waits for, which keeps most edges from crossing.
            def centre(slot: Slot) -> tuple[float, int, int]:
                placed = [rows[p] for p in before.get(slot, []) if p in rows]
                return (sum(placed) / len(placed) if placed else 0.0, slot[0] == "via", slot[1])

            members = sorted(members, key=centre)
        for row, slot in enumerate(members):
            rows[slot] = row

    def x_of(slot: Slot) -> int:
        layer = layers[jobs[slot[1]].name] if slot[0] == "job" else slot[2]
        return layer * (BOX_WIDTH + GAP_X)

    def y_of(slot: Slot) -> int:
        return rows[slot] * (BOX_HEIGHT + GAP_Y)

    nodes = {j.name: Node(j.name, layers[j.name], rows[("job", i, 0)], x_of(("job", i, 0)), y_of(("job", i, 0)))
             for i, j in enumerate(jobs)}
    edges = []
    mid = BOX_HEIGHT // 2
    for (source, target, implicit), route in zip(links, routes, strict=True):
        x, y = x_of(route[0]) + BOX_WIDTH, y_of(route[0]) + mid
        parts = [f"M{x} {y}"]
        for slot in route[1:]:
            nx, ny = x_of(slot), y_of(slot) + mid
            parts.append(_curve(x, y, nx, ny))
            x, y = nx, ny
            if slot[0] == "via":  # straight through the empty place
                x += BOX_WIDTH
                parts.append(f"L{x} {y}")
        edges.append(Edge(source, target, implicit, " ".join(parts)))
    width = (max(layers.values(), default=0) + 1) * (BOX_WIDTH + GAP_X) - GAP_X
    height = max((len(m) for m in columns.values()), default=0) * (BOX_HEIGHT + GAP_Y) - GAP_Y
    return Layout(nodes, edges, width, max(height, BOX_HEIGHT))
