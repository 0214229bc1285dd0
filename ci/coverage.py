"""Code coverage: the ``coverage`` keyword's figure from a job's log, pipeline averages and the trend of a ref.

GitLab's rule, followed here: the log is read line by line from the end; in the first line (from the end) where the
regex matches, the last match is taken (its last capture group when the regex has groups), and the first number in
it is the job's coverage; a line whose match holds no number is passed over. Only the end of the log is read
(:data:`LOG_TAIL_BYTES`), where test tools print their summary. ANSI colour codes are removed first, so a regex
written against what the reader sees on the job page matches.

The regex comes from a pushed pipeline file, so it runs on RE2 (linear time whatever the pattern), like every
pipeline regex (``ci.config.expressions``). A pipeline's coverage is the average of its jobs' (the latest attempt of
each job that has one), as in GitLab.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import re2
from sqlmodel import Session, col, select

from ci.models import DONE_STATES, Job, Pipeline

LOG_TAIL_BYTES = 1024 * 1024
TREND_POINTS = 100
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class CoverageRegexError(ValueError):
    """The job's ``coverage`` regex is not one RE2 accepts."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a bad pattern is the pipeline author's, not the server's, problem
    return options


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Any:
    """The spec's ``coverage`` regex (text without slashes; ``/text/`` with ``i``, ``m``, ``s`` flags is
    accepted too) compiled with RE2. Raises ``CoverageRegexError``."""
    body = pattern
    if len(body) >= 2 and body.startswith("/"):
        end = body.rfind("/")
        flags = body[end + 1 :]
        if end > 0 and all(f in "ims" for f in flags):
            body = (f"(?{''.join(sorted(set(flags)))})" if flags else "") + body[1:end].replace("\\/", "/")
    if not body:
        raise CoverageRegexError("empty regex")
    try:
        return re2.compile(body, _options())
    except re2.error as exc:
        raise CoverageRegexError(str(exc)) from None


def extract(log: str, pattern: str) -> float | None:
    """The coverage figure ``pattern`` finds in ``log`` (see the module docstring), or None."""
    try:
        regex = compile_regex(pattern)
    except CoverageRegexError:
        return None
    for line in reversed(_ANSI.sub("", log).split("\n")):
        line = line.rstrip("\r")
        matches = list(regex.finditer(line))
        if not matches:
            continue
        last = matches[-1]
        groups = [g for g in last.groups() if g is not None]
        text = groups[-1] if groups else last.group()
        number = _NUMBER.search(text)
        if number is not None:
            return round(float(number.group()), 2)
    return None


# --- pipeline averages ---------------------------------------------------------------------------------------


def average(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 2) if present else None


def _latest_coverage(rows: Iterable[tuple[int, str, int, float | None]]) -> dict[int, dict[str, float | None]]:
    """(pipeline id, job name, job id, coverage) rows → per pipeline, the coverage of each job's latest attempt."""
    newest: dict[tuple[int, str], tuple[int, float | None]] = {}
    for pipeline_id, name, job_id, value in rows:
        known = newest.get((pipeline_id, name))
        if known is None or job_id > known[0]:
            newest[(pipeline_id, name)] = (job_id, value)
    out: dict[int, dict[str, float | None]] = {}
    for (pipeline_id, name), (_, value) in newest.items():
        out.setdefault(pipeline_id, {})[name] = value
    return out


def pipeline_coverage(session: Session, pipeline_ids: Sequence[int]) -> dict[int, float]:
    """The coverage of each of these pipelines that has one (average of its jobs' latest attempts)."""
    if not pipeline_ids:
        return {}
    rows = session.exec(
        select(Job.pipeline_id, Job.name, Job.id, Job.coverage).where(col(Job.pipeline_id).in_(pipeline_ids))
    )
    per_pipeline = _latest_coverage((p, n, i or 0, c) for p, n, i, c in rows)
    out: dict[int, float] = {}
    for pipeline_id, jobs in per_pipeline.items():
        value = average(jobs.values())
        if value is not None:
            out[pipeline_id] = value
    return out


# --- trend ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    pipeline_id: int
    sha: str
    created_at: datetime
    coverage: float


def trend(session: Session, repo_id: int, ref: str, job_name: str = "", limit: int = TREND_POINTS) -> list[Point]:
    """Coverage of the last ``limit`` finished pipelines of branch ``ref`` that have one, oldest first: the
    pipeline's average, or only the job ``job_name``'s when given."""
    with_coverage = (
        select(Job.pipeline_id).where(Job.repo_id == repo_id, col(Job.coverage).is_not(None))
    )
    if job_name:
        with_coverage = with_coverage.where(Job.name == job_name)
    pipelines = list(session.exec(
        select(Pipeline)
        .where(Pipeline.repo_id == repo_id, Pipeline.ref == ref, col(Pipeline.status).in_(DONE_STATES),
               col(Pipeline.id).in_(with_coverage))
        .order_by(col(Pipeline.id).desc())
        .limit(limit)
    ))
    ids = [p.id for p in pipelines if p.id is not None]
    if job_name:
        rows = session.exec(
            select(Job.pipeline_id, Job.name, Job.id, Job.coverage)
            .where(col(Job.pipeline_id).in_(ids), Job.name == job_name)
        )
        latest = _latest_coverage((p, n, i or 0, c) for p, n, i, c in rows)
        values = {pid: jobs.get(job_name) for pid, jobs in latest.items()}
    else:
        values = dict(pipeline_coverage(session, ids))
    points = [Point(p.id, p.sha, p.created_at, v) for p in pipelines
              if p.id is not None and (v := values.get(p.id)) is not None]
    return list(reversed(points))


def coverage_refs(session: Session, repo_id: int, limit: int = 50) -> list[str]:
    """Branches with coverage figures in their recent pipelines, most recent first (for the trend page's menu)."""
    rows = session.exec(
        select(Pipeline.ref, Pipeline.id)
        .join(Job, col(Job.pipeline_id) == Pipeline.id)
        .where(Pipeline.repo_id == repo_id, Pipeline.ref_kind == "branch", col(Job.coverage).is_not(None))
        .order_by(col(Pipeline.id).desc())
        .limit(2000)
    )
    refs: list[str] = []
    for ref, _ in rows:
        if ref not in refs:
            refs.append(ref)
            if len(refs) >= limit:
                break
    return refs


def coverage_jobs(session: Session, repo_id: int, ref: str) -> list[str]:
    """Names of the jobs of ``ref``'s pipelines that have a coverage figure (for the trend page's job menu)."""
    rows = session.exec(
        select(Job.name).distinct()
        .join(Pipeline, col(Pipeline.id) == Job.pipeline_id)
        .where(Pipeline.repo_id == repo_id, Pipeline.ref == ref, col(Job.coverage).is_not(None))
        .limit(200)
    )
    return sorted(rows)


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs; a branch name must not run as one.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def trend_csv(points: Sequence[Point], ref: str, job_name: str = "") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["pipeline_id", "created_at", "ref", "sha", "job", "coverage"])
    for point in points:
        writer.writerow([point.pipeline_id, point.created_at.isoformat(), _cell(ref), point.sha, _cell(job_name),
                         f"{point.coverage:.2f}"])
    return out.getvalue()
