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


class SourceLine(int):
    """A line of a file brought in by ``include``: ``file`` is its path and ``anchor`` the line of the ``include``
    entry in the main file. Problems found there are reported at ``anchor``, naming the file and line."""

    file: str
    anchor: int

    def __new__(cls, line: int, file: str, anchor: int) -> SourceLine:
        value = super().__new__(cls, line)
        value.file = file
        value.anchor = anchor
        return value


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
class Need:
    """One entry of ``needs`` (or ``rules:needs``). ``matrix`` selects instances of a ``parallel:matrix`` job:
    each entry maps a variable to the values wanted (GitLab's ``needs:parallel:matrix``); None means every
    instance of ``job``."""

    job: str
    optional: bool = False
    artifacts: bool = True
    matrix: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] | None = None
    line: int = 0


@dataclass(frozen=True)
class Rule:
    """One entry of ``rules:``. ``if_expr`` is the raw expression (checked for syntax at load time)."""

    if_expr: str | None = None
    changes: tuple[str, ...] | None = None  # glob patterns
    # changes: {paths, compare_to}: the ref (``$VAR`` allowed) whose commit the changes are taken against
    compare_to: str | None = None
    exists: tuple[str, ...] | None = None
    when: str | None = None
    allow_failure: bool | None = None
    variables: dict[str, str] = field(default_factory=dict)
    needs: tuple[Need, ...] | None = None  # rules:needs replaces the job's needs when the rule matches
    interruptible: bool | None = None
    start_in: int | None = None  # seconds, with when: delayed
    auto_cancel: dict[str, str] | None = None  # workflow rules only: {on_new_commit, on_job_failure}


@dataclass(frozen=True)
class Service:
    """A ``services`` entry: a container started next to the job's, reachable by its aliases."""

    name: str  # as written (``$VAR`` expanded when the job's spec is stored)
    alias: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifacts:
    """``artifacts``: what the job uploads. ``expire_in`` in seconds, None when not given (the instance default
    applies) or ``never`` (then ``expire_never`` is true: kept until deleted)."""

    name: str = ""
    paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    untracked: bool = False
    when: str = "on_success"
    expire_in: int | None = None
    expire_never: bool = False
    expose_as: str = ""
    junit: tuple[str, ...] = ()  # artifacts:reports:junit; the other report types are accepted and ignored


@dataclass(frozen=True)
class Cache:
    """One ``cache`` entry. ``key`` is the text key (``$VAR`` unexpanded), or None with ``key_files`` for
    ``key: {files, prefix}`` (resolved at plan time from the commit's files)."""

    key: str | None = "default"
    key_files: tuple[str, ...] = ()
    key_prefix: str = ""
    paths: tuple[str, ...] = ()
    untracked: bool = False
    policy: str = "pull-push"
    when: str = "on_success"
    fallback_keys: tuple[str, ...] = ()
    unprotect: bool = False


@dataclass(frozen=True)
class Retry:
    max: int = 0
    when: tuple[str, ...] = ("always",)
    exit_codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Environment:
    """``environment``: name and url as written (expanded when the job's spec is stored)."""

    name: str
    url: str = ""
    action: str = "start"
    on_stop: str = ""
    deployment_tier: str = ""
    auto_stop_in: int | None = None  # seconds; None: never


@dataclass(frozen=True)
class Parallel:
    """``parallel: N`` (``total``) or ``parallel: matrix`` (``matrix``: one entry per combination, in order, each
    the variables of that instance in the order they are written)."""

    total: int = 1
    matrix: tuple[tuple[tuple[str, str], ...], ...] | None = None


@dataclass(frozen=True)
class Inherit:
    """``inherit``: which ``default:`` keywords and global variables a job takes (None: all of them)."""

    default: frozenset[str] | None = None
    variables: frozenset[str] | None = None


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
    # allow_failure: {exit_codes}: a failure with one of these codes is allowed (allow_failure is then false)
    allow_failure_exit_codes: tuple[int, ...] = ()
    need_list: tuple[Need, ...] | None = None  # ``needs`` in full (artifacts flags, parallel:matrix selections)
    services: tuple[Service, ...] = ()
    artifacts: Artifacts | None = None
    cache: tuple[Cache, ...] = ()
    parallel: Parallel | None = None
    retry: Retry = Retry()
    interruptible: bool = False
    resource_group: str = ""
    environment: Environment | None = None
    coverage: str | None = None  # the regex's body, without the slashes
    dependencies: tuple[str, ...] | None = None  # None: not given (needs or earlier stages decide)
    start_in: int | None = None  # seconds, for when: delayed
    inherit_variables: frozenset[str] | None = None  # global variables the job takes; None: all
    manual_confirmation: str = ""


@dataclass(frozen=True)
class PipelineConfig:
    stages: tuple[str, ...]
    variables: dict[str, str]
    workflow_rules: tuple[Rule, ...] | None
    jobs: tuple[JobConfig, ...]  # in file order, hidden (".name") jobs left out
    warnings: tuple[ConfigError, ...] = ()  # usable, but probably not meant (a key written twice)
    workflow_name: str = ""  # workflow:name as written
    auto_cancel: dict[str, str] = field(default_factory=dict)  # workflow:auto_cancel (on_new_commit, ...)
    includes: tuple[str, ...] = ()  # the local files ``include`` read, in order
    # Includes this forge cannot read (GitLab templates, other projects, remote files, components), as named in
    # the warnings; the jobs leaning on them were left out.
    left_out_includes: tuple[str, ...] = ()


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
    # Issue 5 (delivery). Texts that may hold ``$VAR`` (service names, artifacts name, cache keys, environment,
    # resource_group) are kept as written: ``ci.config.finalize`` expands them once the job's own predefined
    # variables (CI_JOB_ID...) are known. Cache keys from ``key: files`` are already resolved here.
    services: tuple[Service, ...] = ()
    artifacts: Artifacts | None = None
    cache: tuple[Cache, ...] = ()
    artifact_sources: tuple[str, ...] = ()  # jobs whose artifacts this one downloads (instances expanded)
    coverage: str | None = None
    retry: Retry = Retry()
    interruptible: bool = False
    resource_group: str = ""
    environment: Environment | None = None
    start_in: int | None = None  # seconds, when ``when`` is delayed
    parallel: tuple[int, int] | None = None  # (CI_NODE_INDEX, CI_NODE_TOTAL) of a parallel job's instance
    manual_confirmation: str = ""
    base_name: str = ""  # the job's name in the file (``test`` for ``test 1/3``)
    allow_failure_exit_codes: tuple[int, ...] = ()  # a failure with one of these exit codes is allowed


@dataclass(frozen=True)
class Plan:
    """What a trigger runs: ``jobs`` empty when nothing matched; ``skipped_by_workflow`` when workflow:rules
    said no (then no pipeline is created at all)."""

    stages: tuple[str, ...]  # only the stages that have jobs in this pipeline, in order
    jobs: tuple[PlannedJob, ...]
    skipped_by_workflow: bool = False
    workflow_name: str = ""  # workflow:name, expanded
    auto_cancel: dict[str, str] = field(default_factory=dict)  # workflow:auto_cancel after workflow:rules
    warnings: tuple[ConfigError, ...] = ()  # found only with these variables (an optional need dropped...)
