"""The checks that span jobs, once each job is read: stages exist; ``needs`` and ``dependencies`` name jobs of
the same (needs) or an earlier stage, without loops; ``needs:parallel:matrix`` selections exist;
``environment:on_stop`` names a job that stops the same environment; names made by ``parallel`` fit and are free.
"""

from __future__ import annotations

from dataclasses import dataclass

from ci.config.parallel import instances, matrix_selection
from ci.config.problems import Problems, quote
from ci.config.spec import JobConfig, Need

MAX_JOB_NAME = 255


@dataclass
class JobPlaces:
    """Where a job's keywords are written, for the checks that span jobs."""

    stage_line: int
    needs: tuple[Need, ...] | None
    dependencies_line: int = 0
    on_stop_line: int = 0


def _stage_index(stages: tuple[str, ...], stage: str) -> int | None:
    return stages.index(stage) if stage in stages else None


def check_graph(
    jobs: list[JobConfig], places: dict[str, JobPlaces], stages: tuple[str, ...], names: set[str],
    hidden: set[str], problems: Problems,
) -> None:
    """Stages exist; needs and dependencies name defined jobs of the same (needs) or an earlier stage, without
    loops; parallel:matrix selections exist; on_stop names a job that stops the same environment."""
    by_name = {job.name: job for job in jobs}
    # GitLab expands parallel jobs before it checks needs and dependencies, so "test 1/3" or "build: [linux]"
    # may be named directly.
    by_name.update({i.name: job for job in jobs if job.parallel is not None for i in instances(job)})
    for job in jobs:
        if job.stage not in stages:
            listed = ", ".join(s for s in stages if s not in (".pre", ".post"))
            problems.error(places[job.name].stage_line, f"job {quote(job.name)}: the stage {quote(job.stage)} is "
                                                        f"not in {quote('stages')} ({listed})")
    for job in jobs:
        _check_needs(job, places[job.name].needs or (), by_name, stages, names, hidden, problems)
        for rule in job.rules or ():
            if rule.needs is not None:
                _check_needs(job, rule.needs, by_name, stages, names, hidden, problems)
        _check_dependencies(job, places[job.name].dependencies_line, by_name, stages, names, hidden, problems)
        _check_on_stop(job, places[job.name].on_stop_line, by_name, names, problems)
    _check_needs_loops(jobs, places, problems)


def _missing(name: str, hidden: set[str]) -> str:
    return "a hidden job (hidden jobs never run)" if name in hidden else "not a job in this file"


def _check_needs(
    job: JobConfig, needs: tuple[Need, ...], by_name: dict[str, JobConfig], stages: tuple[str, ...],
    names: set[str], hidden: set[str], problems: Problems,
) -> None:
    for need in needs:
        other = by_name.get(need.job)
        if other is None and (need.job in names or need.optional):
            # A job with problems of its own (reported already), or an optional need of a job that is not in the
            # file, which GitLab accepts (the need is dropped when planning).
            continue
        if other is None:
            problems.error(need.line, f"job {quote(job.name)} needs {quote(need.job)}, which is "
                                      f"{_missing(need.job, hidden)}")
            continue
        mine, theirs = _stage_index(stages, job.stage), _stage_index(stages, other.stage)
        if mine is not None and theirs is not None and theirs > mine:
            problems.error(need.line, f"job {quote(job.name)} (stage {quote(job.stage)}) needs {quote(need.job)}, "
                                      f"which is in the later stage {quote(other.stage)}")
        if need.matrix is not None:
            _check_need_matrix(job, need, other, problems)


def _check_need_matrix(job: JobConfig, need: Need, other: JobConfig, problems: Problems) -> None:
    if other.parallel is None or other.parallel.matrix is None or need.matrix is None:
        problems.error(need.line, f"job {quote(job.name)} needs {quote(need.job)} with {quote('parallel: matrix')}, "
                                  f"but {quote(need.job)} has no {quote('parallel: matrix')}")
        return
    for wanted in matrix_selection(need.matrix, {}):
        if not any(dict(instance) == wanted for instance in other.parallel.matrix):
            if any("$[[" in value for value in wanted.values()):
                continue  # matrix expressions: known per instance, checked when planning
            shown = ", ".join(wanted.values())
            problems.error(need.line, f"job {quote(job.name)} needs {quote(f'{need.job}: [{shown}]')}, which "
                                      f"{quote(need.job)}'s {quote('parallel: matrix')} does not make")


def _check_dependencies(
    job: JobConfig, line: int, by_name: dict[str, JobConfig], stages: tuple[str, ...], names: set[str],
    hidden: set[str], problems: Problems,
) -> None:
    for name in job.dependencies or ():
        other = by_name.get(name)
        if other is None:
            if name not in names:
                problems.error(line, f"job {quote(job.name)}: the dependency {quote(name)} is {_missing(name, hidden)}")
            continue
        mine, theirs = _stage_index(stages, job.stage), _stage_index(stages, other.stage)
        if mine is not None and theirs is not None and theirs >= mine:
            problems.error(line, f"job {quote(job.name)}: the dependency {quote(name)} is not in an earlier stage "
                                 f"(GitLab takes artifacts only from earlier stages)")
        if job.needs is not None and name not in job.needs:
            problems.error(line, f"job {quote(job.name)}: the dependency {quote(name)} must also be listed in "
                                 f"{quote('needs')}")


def _check_on_stop(
    job: JobConfig, line: int, by_name: dict[str, JobConfig], names: set[str], problems: Problems
) -> None:
    environment = job.environment
    if environment is None or not environment.on_stop:
        return
    stop = by_name.get(environment.on_stop)
    where = f"job {quote(job.name)}: {quote('environment: on_stop')}"
    if stop is None:
        if environment.on_stop not in names:
            problems.error(line, f"{where} names {quote(environment.on_stop)}, which is not a job in this file")
        return
    if stop.environment is None:
        problems.error(line, f"{where}: the job {quote(stop.name)} has no {quote('environment')}")
    elif stop.environment.action != "stop":
        problems.error(line, f"{where}: the job {quote(stop.name)} needs {quote('environment: action: stop')}")
    elif stop.environment.name != environment.name:
        problems.error(line, f"{where}: the job {quote(stop.name)} stops the environment "
                             f"{quote(stop.environment.name)}, not {quote(environment.name)}")


def _check_needs_loops(jobs: list[JobConfig], places: dict[str, JobPlaces], problems: Problems) -> None:
    """Depth-first search without recursion (a long chain of needs must not exhaust Python's stack)."""
    base = {i.name: job.name for job in jobs if job.parallel is not None for i in instances(job)}
    graph = {job.name: [base.get(n, n) for n in (job.needs or ()) if base.get(n, n) in places] for job in jobs}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    reported: set[frozenset[str]] = set()
    for job in jobs:
        if job.name in state:
            continue
        path: list[str] = [job.name]
        pending = [iter(graph[job.name])]
        state[job.name] = 1
        while pending:
            other = next(pending[-1], None)
            if other is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(other) == 1:
                loop = [*path[path.index(other):], other]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    needs = places[loop[0]].needs
                    line = next((n.line for n in needs or () if n.job == loop[1]), None)
                    problems.error(line, "the needs of jobs go round in a circle: "
                                         + " → ".join(quote(n) for n in loop))
            elif other not in state:
                state[other] = 1
                path.append(other)
                pending.append(iter(graph[other]))


def check_instance_names(jobs: list[JobConfig], problems: Problems) -> None:
    """Names made by ``parallel`` must fit and must not collide with another job's name."""
    taken = {job.name: job.name for job in jobs}
    for job in jobs:
        if job.parallel is None:
            continue
        for instance in instances(job):
            if len(instance.name) > MAX_JOB_NAME:
                problems.error(job.line, f"job {quote(job.name)}: the name {quote(instance.name[:60] + '…')} that "
                                         f"{quote('parallel')} makes is longer than {MAX_JOB_NAME} characters")
                return
            if taken.get(instance.name, job.name) != job.name:
                problems.error(job.line, f"job {quote(job.name)}: {quote('parallel')} makes the job "
                                         f"{quote(instance.name)}, which is also the name of another job")
            taken[instance.name] = job.name
