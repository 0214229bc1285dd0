"""Jobs left out of a file whose includes could not all be read, and GitLab keywords this forge accepts but does
not act on.

A real ``.gitlab-ci.yml`` often includes GitLab's templates, CI/CD components or files of other projects, which
this forge cannot read (``ci.config.includes`` warns about each). Refusing the whole file for that would stop the
project's own jobs too; running what leans on the missing part would run something its author never wrote. So a
job is left out, with a warning naming the reason, when it ``extends`` a name no file defines, uses a
``!reference`` to something no file defines, has no ``script`` of its own (it only adds keys to a job of the
missing include), or ``needs``/``dependencies`` a job that is left out or not defined (optional needs excepted).
Leaving one job out may leave out the jobs that need it, until nothing changes. Without unreadable includes
these are the usual errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ci.config.problems import Problems, quote
from ci.config.spec import JobConfig
from ci.config.yamlfile import LMap, Reference

REASON = "it probably comes from an include this forge cannot read"

# Job keywords read but not acted on: the job still runs, and a warning says what is missing.
JOB_IGNORED = {
    "release": "no release is created (the job's script still runs)",
    "secrets": "the variables it names are empty: this forge reads no external secrets",
    "id_tokens": "the variables it names are empty: this forge issues no ID tokens",
    "pages": "this forge does not publish GitLab Pages",
    "hooks": "its scripts do not run",
    "identity": "no cloud identity is given to the job",
    "dast_configuration": "there is no DAST scanner on this forge",
}
# Job keywords that make a job this forge cannot run at all: the job is left out.
JOB_LEFT_OUT = {
    "trigger": "it starts a downstream pipeline (a trigger job), which this forge does not do",
    "run": "it runs CI/CD steps (“run”), which this forge does not have",
}
DEFAULT_IGNORED = {"hooks": JOB_IGNORED["hooks"], "id_tokens": JOB_IGNORED["id_tokens"]}


def ignored_keys(entry: LMap, where: str, ignored: dict[str, str], problems: Problems) -> None:
    """A warning for each keyword of ``entry`` that is accepted but has no effect here."""
    for key, effect in ignored.items():
        if key in entry:
            names = ""
            value = entry[key]
            if key in ("secrets", "id_tokens") and isinstance(value, LMap) and value:
                names = f" ({', '.join(value)})"
            problems.warn(entry.key_line(key), f"{where}: {quote(key)} is not supported on this forge{names}: "
                                               f"{effect}")


def left_out_kind(entry: LMap) -> str | None:
    """The keyword that makes a job impossible to run here (``trigger``, ``run``), if any."""
    return next((key for key in JOB_LEFT_OUT if key in entry), None)


def warn_left_out_kind(name: str, entry: LMap, key: str, problems: Problems) -> None:
    problems.warn(entry.key_line(key), f"job {quote(name)} is left out: {JOB_LEFT_OUT[key]}")


def strip_nulls(entry: LMap) -> LMap:
    """``entry`` without the keys written with no value: GitLab treats ``key:`` (null) as not given, so that
    ``image: null`` or ``rules: null`` undoes what ``extends`` or an anchor brought in."""
    if all(value is not None for value in entry.values()):
        return entry
    kept = LMap(entry.line)
    for key, value in entry.items():
        if value is not None:
            kept.put(key, value, entry.key_line(key))
    return kept


class LeftOut:
    """What unreadable includes make this file lose, and the warnings saying so."""

    def __init__(self, includes: tuple[str, ...], problems: Problems) -> None:
        self.includes = includes
        self.problems = problems
        self.jobs: set[str] = set()

    @property
    def active(self) -> bool:
        return bool(self.includes)

    def extends(self, name: str, line: int, base: str) -> None:
        self.jobs.add(name)
        self.problems.warn(line, f"job {quote(name)} is left out: it extends {quote(base)}, which is not defined "
                                 f"in this file ({REASON})")

    def reference(self, name: str, line: int, ref: Reference) -> None:
        self.jobs.add(name)
        self.problems.warn(ref.line or line, f"job {quote(name)} is left out: {ref} names something not defined in "
                                             f"this file ({REASON})")

    def default_reference(self, ref: Reference) -> None:
        self.problems.warn(ref.line, f"{quote('default')}: {ref} names something not defined in this file "
                                     f"({REASON}); that keyword is left out of the defaults")

    def no_script(self, name: str, line: int) -> None:
        self.jobs.add(name)
        self.problems.warn(line, f"job {quote(name)} is left out: it has no {quote('script')}, so it probably "
                                 "only adds keys to a job of an include this forge cannot read")

    def cascade(self, jobs: list[JobConfig], defined: Iterable[str]) -> list[JobConfig]:
        """``jobs`` without those that need (or take artifacts from) a job that is left out (or, when includes
        are missing, defined nowhere), repeated until none is removed."""
        if not self.jobs and not self.active:
            return jobs
        known = set(defined)
        kept = list(jobs)
        while True:
            present = {job.name for job in kept}
            removed = False
            for job in list(kept):
                missing = _missing_prerequisite(job, present, known, self.jobs, self.active)
                if missing is None:
                    continue
                kept.remove(job)
                self.jobs.add(job.name)
                removed = True
                why = "is left out" if missing in self.jobs else f"is not defined in this file ({REASON})"
                self.problems.warn(job.line, f"job {quote(job.name)} is left out: it needs {quote(missing)}, "
                                             f"which {why}")
            if not removed:
                return kept

    def nothing_left(self) -> None:
        listed = ", ".join(quote(i) for i in self.includes)
        self.problems.error(None, "every job of the file is left out: they come from, or lean on, includes this "
                                  f"forge cannot read ({listed})")


def _missing_prerequisite(
    job: JobConfig, present: set[str], known: set[str], left_out: set[str], undefined_too: bool
) -> str | None:
    """The first job ``job`` cannot do without that is not among the jobs kept (a job with problems of its own
    is still in ``known`` and is not counted; an undefined one only when ``undefined_too``, else it stays the
    error the graph checks report)."""
    wanted = [(need.job, need.optional) for need in job.need_list or ()]
    wanted += [(name, False) for name in job.dependencies or ()]
    for name, optional in wanted:
        if optional or name in present or _instance_of(name, present):
            continue
        if name in left_out or (undefined_too and name not in known):
            return name
    return None


_INSTANCE = re.compile(r"(.+?)(?: \d+/\d+|: \[.*\])")


def _instance_of(name: str, present: set[str]) -> bool:
    # "build 1/2" or "build: [linux]" name an instance of the parallel job "build".
    match = _INSTANCE.fullmatch(name)
    return match is not None and match.group(1) in present
