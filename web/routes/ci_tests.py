"""Test report and coverage pages: a pipeline's "Tests" tab and a branch's coverage trend (chart, table, CSV). The
pipeline test report API in GitLab's shapes is ``web.api.routes.pipelines``.

Thin handlers over ``ci.test_reports`` and ``ci.coverage``; reading needs read access to the repository (a hidden
one is a plain 404, as on every repository page). The chart is an inline SVG drawn on the server — no JavaScript —
with the same figures as a table beside it for screen readers and as a CSV download.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ci import coverage, pipelines, test_reports
from ci.coverage import Point
from forge.permissions import Access
from web.repo_context import repo_page_context
from web.routes.ci_pipelines import duration
from web.state import run_db
from web.templating import render

# Chart geometry, in SVG user units (the SVG scales to the page width).
WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 16, 56
X_LABELS = 6


def _ctx(session: Session, request: Request) -> dict[str, Any]:
    return repo_page_context(session, request, "ci", Access.READ)


def _int_param(request: Request, name: str) -> int | None:
    try:
        return int(request.query_params.get(name, ""))
    except ValueError:
        return None


async def pipeline_tests(request: Request) -> Response:
    pipeline_id = request.path_params["id"]
    job_id = _int_param(request, "job")

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        pipeline = pipelines.get_pipeline(session, ctx["repo"], pipeline_id)
        ctx.update(test_reports.pipeline_facts(session, pipeline))
        view = test_reports.pipeline_tests(session, pipeline, job_id)
        shown = next((row for row in view.jobs if row.job.id == job_id), None)
        ctx.update(pipeline=pipeline, tests=view, shown_job=shown, pipeline_tab="tests",
                   retention_days=test_reports.CASE_RETENTION_DAYS)
        return ctx

    ctx = await run_db(request, load)
    ctx["duration"] = duration
    return render(request, "ci/tests_pipeline.html", ctx)


# --- coverage trend -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    point: Point


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int  # x of the plot's right edge
    top: int
    bottom: int  # y of the plot's bottom edge (the x axis)
    path: str
    points: list[ChartPoint]
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_ticks: list[tuple[float, str, str]]  # (x, "#pipeline", "month-day" when it differs from the previous label)


_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0)


def _y_axis(values: list[float]) -> tuple[float, float, float]:
    """The y axis (low, high, step) around the values: round steps (1, 2, 2.5, 5, 10, 20 or 25 %), at most five of
    them, within 0..100, at least two steps tall, so a change of half a percent still shows."""
    low, high = max(min(values) - 0.5, 0.0), min(max(values) + 0.5, 100.0)
    step = next((s for s in _STEPS if (high - low) / s <= 5), 25.0)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    if high - low < 2 * step:
        high = low + 2 * step if low + 2 * step <= 100 else high
        low = high - 2 * step
    return max(low, 0.0), min(high, 100.0), step


def chart(points: list[Point]) -> Chart | None:
    """The line chart's geometry: points left (oldest) to right (newest), coverage upwards."""
    if not points:
        return None
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    low, high, step = _y_axis([p.coverage for p in points])
    span_x = right - LEFT

    def y_of(value: float) -> float:
        return round(bottom - (value - low) / (high - low) * (bottom - TOP), 1)

    def x_of(index: int) -> float:
        if len(points) == 1:
            return LEFT + span_x / 2
        return round(LEFT + index * span_x / (len(points) - 1), 1)

    placed = [ChartPoint(x_of(i), y_of(p.coverage), p) for i, p in enumerate(points)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{c.x},{c.y}" for i, c in enumerate(placed))
    y_ticks = [(y_of(low + k * step), f"{low + k * step:g}%") for k in range(round((high - low) / step) + 1)]
    step = max(math.ceil(len(points) / X_LABELS), 1)
    indexes = list(range(0, len(points), step))
    if indexes[-1] != len(points) - 1 and len(points) > 1:
        if len(points) - 1 - indexes[-1] < step / 2:
            indexes.pop()  # too close to the last label: keep the newest, which matters most
        indexes.append(len(points) - 1)
    x_ticks: list[tuple[float, str, str]] = []
    last_day = ""
    for i in indexes:
        day = points[i].created_at.strftime("%m-%d")
        x_ticks.append((placed[i].x, f"#{points[i].pipeline_id}", day if day != last_day else ""))
        last_day = day
    return Chart(WIDTH, HEIGHT, LEFT, right, TOP, bottom, path, placed, y_ticks, x_ticks)


def _trend_params(request: Request, default_branch: str) -> tuple[str, str]:
    ref = request.query_params.get("ref", "").strip()[:255] or default_branch
    job = request.query_params.get("job", "").strip()[:255]
    return ref, job


async def coverage_graph(request: Request) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        repo = ctx["repo"]
        ref, job = _trend_params(request, repo.default_branch)
        points = coverage.trend(session, repo.id, ref, job)
        refs = coverage.coverage_refs(session, repo.id)
        if ref not in refs:
            refs.insert(0, ref)
        ctx.update(trend_ref=ref, trend_job=job, points=points, refs=refs,
                   jobs=coverage.coverage_jobs(session, repo.id, ref), chart=chart(points))
        return ctx

    ctx = await run_db(request, load)
    return render(request, "ci/tests_coverage.html", ctx)


def _filename_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "ref"


async def coverage_csv(request: Request) -> Response:
    def load(session: Session) -> tuple[str, str]:
        ctx = _ctx(session, request)
        repo = ctx["repo"]
        ref, job = _trend_params(request, repo.default_branch)
        points = coverage.trend(session, repo.id, ref, job)
        name = f"coverage-{_filename_part(repo.name)}-{_filename_part(ref)}.csv"
        return coverage.trend_csv(points, ref, job), name

    body, name = await run_db(request, load)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Content-Type-Options": "nosniff"})


_R = "/{owner}/{repo}/-"

routes: list[BaseRoute] = [
    Route(_R + "/pipelines/{id:int}/tests", pipeline_tests, methods=["GET"], name="ci_pipeline_tests"),
    Route(_R + "/graphs/coverage", coverage_graph, methods=["GET"], name="ci_coverage_graph"),
    Route(_R + "/graphs/coverage.csv", coverage_csv, methods=["GET"], name="ci_coverage_csv"),
]
