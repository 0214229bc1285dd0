"""The pipeline page's dependency graph layout (ci.graph): columns follow the chain of waiting, edges join box
edges, and stage order is drawn for jobs without needs."""

from __future__ import annotations

from dataclasses import dataclass

from ci import graph


@dataclass
class J:
    name: str
    stage_index: int
    needs: list[str] | None = None


def test_needs_chain_gives_columns_and_stage_jobs_follow_the_nearest_earlier_stage() -> None:
    jobs = [J("lint", 0, []), J("build", 0), J("unit", 1, ["build"]), J("e2e", 1, ["unit"]), J("deploy", 2)]
    result = graph.layout(jobs)
    layers = {n: node.layer for n, node in result.nodes.items()}
    assert layers == {"lint": 0, "build": 0, "unit": 1, "e2e": 2, "deploy": 3}
    drawn = {(e.source, e.target, e.implicit) for e in result.edges}
    assert drawn == {("build", "unit", False), ("unit", "e2e", False), ("unit", "deploy", True),
                     ("e2e", "deploy", True)}
    assert result.width == 4 * graph.BOX_WIDTH + 3 * graph.GAP_X
    assert result.height == 2 * graph.BOX_HEIGHT + graph.GAP_Y


def test_edges_run_from_the_right_edge_of_the_source_to_the_left_edge_of_the_target() -> None:
    result = graph.layout([J("a", 0), J("b", 1, ["a"])])
    a, b = result.nodes["a"], result.nodes["b"]
    (edge,) = result.edges
    mid = graph.BOX_HEIGHT // 2
    assert edge.path.startswith(f"M{a.x + graph.BOX_WIDTH} {a.y + mid} ")
    assert edge.path.endswith(f" {b.x} {b.y + mid}")


def test_a_job_sits_next_to_what_it_needs() -> None:
    # Barycentre ordering: "after-z" needs the second job of the first column, so it is placed below "after-a".
    result = graph.layout([J("a", 0), J("z", 0), J("after-z", 1, ["z"]), J("after-a", 1, ["a"])])
    assert result.nodes["after-a"].row == 0 and result.nodes["after-z"].row == 1


def test_missing_needs_and_a_cycle_do_not_break_the_layout() -> None:
    result = graph.layout([J("a", 0, ["ghost"]), J("b", 0, ["c"]), J("c", 0, ["b"])])
    assert set(result.nodes) == {"a", "b", "c"} and result.nodes["a"].layer == 0
    assert {(e.source, e.target) for e in result.edges} == {("c", "b"), ("b", "c")}


def test_an_edge_that_skips_a_column_passes_through_an_empty_place_not_behind_a_box() -> None:
    # a -> b -> c and a -> c: the a -> c edge crosses b's column in a row of its own.
    result = graph.layout([J("a", 0), J("b", 1, ["a"]), J("c", 2, ["a", "b"])])
    long_edge = next(e for e in result.edges if (e.source, e.target) == ("a", "c"))
    b = result.nodes["b"]
    assert " L" in long_edge.path
    through_y = int(long_edge.path.split(" L")[1].split()[1])
    assert through_y != b.y + graph.BOX_HEIGHT // 2  # not b's row
    assert result.height == 2 * graph.BOX_HEIGHT + graph.GAP_Y  # the column crossed got a second place
