"""What a pipeline file means once read: plain dataclasses, no YAML left in them.

``ci.config.load`` turns the text of ``.forge-ci.yml`` / ``.gitlab-ci.yml`` into a ``PipelineConfig`` (or
``ConfigErrors`` with a line and a reason for each problem); ``ci.config.plan`` decides, for one push or manual run
(its variables and changed paths), which jobs run and how. The server stores the plan; the runner receives each
job as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_STAGES = (".pre", "build", "test", "deploy", ".post")
WHEN_VALUES = ("on_success", "on_failure", "always", "never", "manual", "delayed")


@dataclass(frozen=True)
class ConfigError:
    line: int | None  # 1-based line in the file, None when the problem has no single place
    message: str  # a sentence a person understands, naming the key or job


class ConfigErrors(Exception):
    """The file cannot be used; ``errors`` lists every problem found, in file order."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("; ".join(f"line {e.line}: {e.message}" if e.line else e.message for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Image:
    name: str
    entrypoint: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rule:
    """One entry of ``rules:``. ``if_expr`` is the raw expression (checked for syntax at load time)."""

    if_expr: str | None = None
    changes: tuple[str, ...] | None = None  # glob patterns
    exists: tuple[str, ...] | None = None
    when: str | None = None
    allow_failure: bool | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefFilter:
    """Legacy ``only``/``except``: ref names, ``/regex/`` patterns and keywords (branches, tags, ...)."""

    refs: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()  # expressions
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobConfig:
    """A job after ``default:``, ``extends`` and merges are applied; nothing is evaluated yet."""

    name: str
    line: int
    stage: str
    script: tuple[str, ...]
    before_script: tuple[str, ...] = ()
    after_script: tuple[str, ...] = ()
    image: Image | None = None
    variables: dict[str, str] = field(default_factory=dict)  # as written: ``$VAR`` unexpanded, ``$$`` a "$"
    needs: tuple[str, ...] | None = None  # None: stage order; () : start at once
    optional_needs: frozenset[str] = frozenset()  # needs written {job: x, optional: true}
    rules: tuple[Rule, ...] | None = None
    only: RefFilter | None = None  # None: GitLab's default (branches and tags, unless workflow:rules exist)
    except_: RefFilter | None = None
    when: str = "on_success"  # never here is our extension: the job is never added
    allow_failure: bool = False  # already true for a manual job that does not say otherwise
    timeout_seconds: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelineConfig:
    stages: tuple[str, ...]
    variables: dict[str, str]
    workflow_rules: tuple[Rule, ...] | None
    jobs: tuple[JobConfig, ...]  # in file order, hidden (".name") jobs left out
    warnings: tuple[ConfigError, ...] = ()  # usable, but probably not meant (a key written twice)


@dataclass(frozen=True)
class PlannedJob:
    """A job that runs in this pipeline, with everything the runner needs except predefined per-job variables."""

    name: str
    stage: str
    stage_index: int  # position of ``stage`` in ``Plan.stages``
    script: tuple[str, ...]
    before_script: tuple[str, ...]
    after_script: tuple[str, ...]
    image: Image | None
    variables: dict[str, str]  # global, workflow rule's, job's, matching rule's; ``$VAR`` references expanded
    needs: tuple[str, ...] | None  # optional needs of jobs not in this pipeline are dropped
    when: str  # on_success, on_failure, always, manual, delayed
    allow_failure: bool
    timeout_seconds: int | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What a trigger runs: ``jobs`` empty when nothing matched; ``skipped_by_workflow`` when workflow:rules
    said no (then no pipeline is created at all)."""

    stages: tuple[str, ...]  # only the stages that have jobs in this pipeline, in order
    jobs: tuple[PlannedJob, ...]
    skipped_by_workflow: bool = False
