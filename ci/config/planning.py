"""Deciding what one trigger runs: ``workflow:rules``, then each job's ``rules`` or ``only``/``except``.

``variables`` are the pipeline's own: the predefined ones (``CI_COMMIT_BRANCH``, ``CI_COMMIT_TAG``,
``CI_PIPELINE_SOURCE``, ``CI_COMMIT_REF_NAME``, ``CI_PROJECT_PATH``…) and those given to "Run pipeline". They take
precedence over the file's variables wherever both define a name (as GitLab's do), in conditions and in ``$VAR``
expansion; the plan's job variables hold only the file's, for the server to put the pipeline's on top.

``changed_paths`` are the files the push changed. None means "not known" — a new branch, a tag, a manual run, a
schedule — and then, as in GitLab, every ``changes`` condition is true. ``exists`` is asked about one glob pattern
at a time and answers whether any file of the commit matches it (``ci.config.globs.glob_matches`` helps); None
means not known, and ``exists`` conditions are then true as well.

The jobs' order, stage order and ``needs`` follow the file. A job that ``needs`` a job left out of this pipeline
is an error (GitLab's "job X needs job Y, but Y does not exist in the pipeline"), unless the need is optional: then
the need is dropped, and a job whose needs are all dropped that way runs in stage order (not at once).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ci.config.expand import VariableLoop, expand_all, substitute
from ci.config.expressions import compile_pattern, holds
from ci.config.globs import any_matches
from ci.config.problems import Problems, quote
from ci.config.spec import Image, JobConfig, PipelineConfig, Plan, PlannedJob, RefFilter, Rule

# only/except keywords naming how a pipeline was started (CI_PIPELINE_SOURCE values).
SOURCE_KEYWORDS = {
    "pushes": "push",
    "web": "web",
    "api": "api",
    "triggers": "trigger",
    "schedules": "schedule",
    "merge_requests": "merge_request_event",
    "pipelines": "pipeline",
    "external": "external",
    "chat": "chat",
    "external_pull_requests": "external_pull_request_event",
}


@dataclass(frozen=True)
class _Facts:
    variables: dict[str, str]
    changed_paths: list[str] | None
    exists: Callable[[str], bool] | None

    @property
    def ref(self) -> str:
        v = self.variables
        return v.get("CI_COMMIT_TAG") or v.get("CI_COMMIT_BRANCH") or v.get("CI_COMMIT_REF_NAME") or ""


@dataclass(frozen=True)
class _Decision:
    when: str
    allow_failure: bool
    variables: dict[str, str]


def _changes(patterns: tuple[str, ...], context: Mapping[str, str], facts: _Facts) -> bool:
    if facts.changed_paths is None:
        return True
    expanded = [substitute(p, context) for p in patterns]
    return any_matches(expanded, facts.changed_paths)


def _exists(patterns: tuple[str, ...], context: Mapping[str, str], facts: _Facts) -> bool:
    if facts.exists is None:
        return True
    return any(facts.exists(substitute(p, context)) for p in patterns)


def _rule_matches(rule: Rule, context: Mapping[str, str], facts: _Facts) -> bool:
    if rule.if_expr is not None and not holds(rule.if_expr, context):
        return False
    if rule.changes is not None and not _changes(rule.changes, context, facts):
        return False
    return not (rule.exists is not None and not _exists(rule.exists, context, facts))


def first_match(rules: tuple[Rule, ...], context: Mapping[str, str], facts: _Facts) -> Rule | None:
    return next((rule for rule in rules if _rule_matches(rule, context, facts)), None)


def _ref_matches(pattern: str, facts: _Facts) -> bool:
    variables = facts.variables
    pattern, _, project = pattern.partition("@")
    if project and variables.get("CI_PROJECT_PATH") != project:
        return False
    if pattern == "branches":
        return bool(variables.get("CI_COMMIT_BRANCH"))
    if pattern == "tags":
        return bool(variables.get("CI_COMMIT_TAG"))
    source = variables.get("CI_PIPELINE_SOURCE", "")
    if source and (pattern == source or SOURCE_KEYWORDS.get(pattern) == source):
        return True
    if len(pattern) > 1 and pattern.startswith("/"):
        return compile_pattern(pattern).search(facts.ref) is not None
    return pattern == facts.ref


def _filter_parts(spec: RefFilter, context: Mapping[str, str], facts: _Facts) -> list[bool]:
    """One answer per part the filter uses (refs, variables, changes)."""
    parts = []
    if spec.refs or not (spec.variables or spec.changes):  # an empty list of refs matches nothing
        parts.append(any(_ref_matches(p, facts) for p in spec.refs))
    if spec.variables:
        parts.append(any(holds(e, context) for e in spec.variables))
    if spec.changes:
        parts.append(_changes(spec.changes, context, facts))
    return parts


def _layers(*layers: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return merged


class _Planner:
    def __init__(self, config: PipelineConfig, facts: _Facts, problems: Problems) -> None:
        self.config = config
        self.facts = facts
        self.problems = problems
        self.workflow_vars: dict[str, str] = {}
        self.expansions: dict[tuple[tuple[tuple[str, str], ...], ...], dict[str, str]] = {}

    def expanded(self, *layers: Mapping[str, str], line: int | None, where: str) -> dict[str, str] | None:
        """The file's variables ``layers`` (later ones win) merged and expanded. Most jobs add nothing to the
        global variables, so each distinct combination is expanded once (the global layer is always the same)."""
        key = tuple(tuple(layer.items()) for layer in layers[1:])
        if key not in self.expansions:
            try:
                self.expansions[key] = expand_all(_layers(*layers), self.facts.variables)
            except VariableLoop as exc:
                self.problems.error(line, f"{where}: {exc}")
                return None
        return dict(self.expansions[key])

    def context(self, expanded: dict[str, str], job: JobConfig | None = None) -> Mapping[str, str]:
        """What conditions see: the pipeline's variables over the file's, over the job's name and stage."""
        extra = {"CI_JOB_NAME": job.name, "CI_JOB_STAGE": job.stage} if job is not None else {}
        return ChainMap(self.facts.variables, expanded, extra)

    def workflow_allows(self) -> bool:
        rules = self.config.workflow_rules
        if rules is None:
            return True
        own = self.expanded(self.config.variables, line=None, where=quote("variables"))
        if own is None:
            return False
        rule = first_match(rules, self.context(own), self.facts)
        if rule is None or rule.when == "never":
            return False
        self.workflow_vars = rule.variables
        return True

    def decide(self, job: JobConfig, context: Mapping[str, str]) -> _Decision | None:
        if job.rules is not None:
            rule = first_match(job.rules, context, self.facts)
            if rule is None:
                return None
            when = rule.when or job.when
            if when == "never":
                return None
            allow_failure = rule.allow_failure if rule.allow_failure is not None else job.allow_failure
            return _Decision(when, allow_failure, rule.variables)
        if job.when == "never":
            return None
        only = job.only
        if only is None and self.config.workflow_rules is None:
            only = RefFilter(refs=("branches", "tags"))
        if only is not None and not all(_filter_parts(only, context, self.facts)):
            return None
        if job.except_ is not None and any(_filter_parts(job.except_, context, self.facts)):
            return None
        return _Decision(job.when, job.allow_failure, {})

    def plan_job(self, job: JobConfig) -> tuple[JobConfig, _Decision, dict[str, str]] | None:
        where = f"job {quote(job.name)}"
        layers = (self.config.variables, self.workflow_vars, job.variables)
        expanded = self.expanded(*layers, line=job.line, where=where)
        if expanded is None:
            return None
        decision = self.decide(job, self.context(expanded, job))
        if decision is None:
            return None
        if decision.variables:
            final = self.expanded(*layers, decision.variables, line=job.line, where=where)
            if final is None:
                return None
            expanded = final
        return job, decision, expanded

    def run(self) -> Plan:
        if not self.workflow_allows():
            self.problems.raise_if_any()
            return Plan(stages=(), jobs=(), skipped_by_workflow=True)
        chosen = [p for p in (self.plan_job(job) for job in self.config.jobs) if p is not None]
        self.problems.raise_if_any()
        names = {job.name for job, _, _ in chosen}
        present = {job.stage for job, _, _ in chosen}
        stages = tuple(stage for stage in self.config.stages if stage in present)
        planned: list[PlannedJob] = []
        for job, decision, variables in chosen:
            needs = None
            if job.needs is not None:
                for name in job.needs:
                    if name not in names and name not in job.optional_needs:
                        self.problems.error(
                            job.line, f"job {quote(job.name)} needs job {quote(name)}, but {quote(name)} is not in "
                            "this pipeline (its rules, only or except left it out); to need a job that is not "
                            "always there, write {job: " + name + ", optional: true}",
                        )
                needs = tuple(name for name in job.needs if name in names)
                if job.needs and not needs:
                    # Only optional needs, none of them here: the job runs in stage order, as GitLab intends
                    # ("if the optional job exists wait for it, otherwise run as part of the chosen stage").
                    needs = None
            context = self.context(variables, job)
            image = Image(substitute(job.image.name, context), job.image.entrypoint) if job.image else None
            planned.append(
                PlannedJob(
                    name=job.name,
                    stage=job.stage,
                    stage_index=stages.index(job.stage),
                    script=job.script,
                    before_script=job.before_script,
                    after_script=job.after_script,
                    image=image,
                    variables=variables,
                    needs=needs,
                    when=decision.when,
                    allow_failure=decision.allow_failure,
                    timeout_seconds=job.timeout_seconds,
                    tags=tuple(substitute(tag, context) for tag in job.tags),
                )
            )
        self.problems.raise_if_any()
        return Plan(stages=stages, jobs=tuple(planned))


def plan(
    config: PipelineConfig,
    variables: Mapping[str, str],
    changed_paths: list[str] | None = None,
    exists: Callable[[str], bool] | None = None,
) -> Plan:
    """The jobs this trigger runs; raises ``ConfigErrors`` for problems that only show with these variables."""
    facts = _Facts(dict(variables), list(changed_paths) if changed_paths is not None else None, exists)
    return _Planner(config, facts, Problems()).run()
