"""Deciding what one trigger runs: ``workflow:rules``, then each job's ``rules`` or ``only``/``except``.

``variables`` are the pipeline's own: the predefined ones (``CI_COMMIT_BRANCH``, ``CI_COMMIT_TAG``,
``CI_PIPELINE_SOURCE``, ``CI_COMMIT_REF_NAME``, ``CI_PROJECT_PATH``…) and those given to "Run pipeline". They take
precedence over the file's variables wherever both define a name (as GitLab's do), in conditions and in ``$VAR``
expansion; the plan's job variables hold only the file's, for the server to put the pipeline's on top.

``changed_paths`` are the files the push changed. None means "not known" — a new branch, a tag, a manual run, a
schedule — and then, as in GitLab, every ``changes`` condition is true. ``exists`` is asked about one glob pattern
at a time and answers whether any file of the commit matches it (``ci.config.globs.glob_matches`` helps); None
means not known, and ``exists`` conditions are then true as well.

Each job is first expanded into its ``parallel`` instances (``ci.config.parallel``), and rules are evaluated per
instance, seeing its matrix variables. ``needs``/``dependencies`` naming a parallel job mean all its instances that
are in the pipeline. Each planned job also gets ``artifact_sources`` (GitLab's choice: ``dependencies``, else the
needs with ``artifacts: true``, else every job of the earlier stages) and its ``cache:key:files`` keys resolved.

The jobs' order, stage order and ``needs`` follow the file. A job that ``needs`` a job left out of this pipeline
is an error (GitLab's "job X needs job Y, but Y does not exist in the pipeline"), unless the need is optional: then
the need is dropped, and a job whose needs are all dropped that way runs in stage order (not at once).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ci.config.expand import VariableLoop, expand_all, substitute
from ci.config.expressions import compile_ref_pattern, holds
from ci.config.globs import any_matches
from ci.config.parallel import Instance, instances, matrix_name, matrix_selection
from ci.config.problems import Problems, quote
from ci.config.spec import Image, JobConfig, Need, PipelineConfig, Plan, PlannedJob, RefFilter, Rule

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


# ``rules:changes:compare_to``: the paths changed between a ref's commit and the pipeline's; None when the ref
# names no branch, tag or commit of the repository.
CompareTo = Callable[[str], list[str] | None]


@dataclass(frozen=True)
class _Facts:
    variables: dict[str, str]
    changed_paths: list[str] | None
    exists: Callable[[str], bool] | None
    compare: CompareTo | None = None
    bad_refs: list[str] = field(default_factory=list)  # compare_to refs that named nothing

    @property
    def ref(self) -> str:
        v = self.variables
        return v.get("CI_COMMIT_TAG") or v.get("CI_COMMIT_BRANCH") or v.get("CI_COMMIT_REF_NAME") or ""


@dataclass(frozen=True)
class _Decision:
    when: str
    allow_failure: bool
    variables: dict[str, str]
    needs: tuple[Need, ...] | None = None  # rules:needs, replacing the job's
    interruptible: bool | None = None  # rules:interruptible
    start_in: int | None = None  # seconds, for when: delayed


def _changes(patterns: tuple[str, ...], context: Mapping[str, str], facts: _Facts,
             compare_to: str | None = None) -> bool:
    changed = facts.changed_paths
    if compare_to is not None and facts.compare is None:
        return True  # nothing to compare with (the command-line lint): unknown, so true
    if compare_to is not None and facts.compare is not None:
        # GitLab compares against the given ref whatever started the pipeline (also for tags and new branches).
        ref = substitute(compare_to, context)
        changed = facts.compare(ref)
        if changed is None:
            if ref not in facts.bad_refs:
                facts.bad_refs.append(ref)
            return False
    if changed is None:
        return True
    expanded = [substitute(p, context) for p in patterns]
    return any_matches(expanded, changed)


def _exists(patterns: tuple[str, ...], context: Mapping[str, str], facts: _Facts) -> bool:
    if facts.exists is None:
        return True
    return any(facts.exists(substitute(p, context)) for p in patterns)


def _rule_matches(rule: Rule, context: Mapping[str, str], facts: _Facts) -> bool:
    if rule.if_expr is not None and not holds(rule.if_expr, context):
        return False
    if rule.changes is not None and not _changes(rule.changes, context, facts, rule.compare_to):
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
    if not (variables.get("CI_COMMIT_BRANCH") or variables.get("CI_COMMIT_TAG")):
        # GitLab matches names and patterns only against a branch's or tag's name: never in merge request
        # pipelines (their ref is the merge request's, whatever the source branch is called).
        return False
    if len(pattern) > 1 and pattern.startswith("/"):
        return compile_ref_pattern(pattern).search(facts.ref) is not None
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


def _inherited(variables: Mapping[str, str], wanted: frozenset[str] | None) -> Mapping[str, str]:
    """The global (and workflow rule) variables a job takes under ``inherit: variables``."""
    if wanted is None:
        return variables
    return {name: value for name, value in variables.items() if name in wanted}


@dataclass(frozen=True)
class _Chosen:
    job: JobConfig
    instance: Instance
    decision: _Decision
    variables: dict[str, str]


def files_cache_key(files: tuple[str, ...], prefix: str, blob_id: Callable[[str], str | None] | None) -> str:
    """``cache:key:files``: ``<prefix>-<digest>`` from the files' contents at the commit (blob ids), so the key
    changes exactly when one of the files does. GitLab digests the files' last commits instead; the content is
    what matters and needs no history walk. No file found: ``default`` (``<prefix>-default``), as in GitLab."""
    ids = [found for found in (blob_id(path.lstrip("/")) if blob_id else None for path in files) if found]
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:40] if ids else "default"
    return f"{prefix}-{digest}" if prefix else digest


class _Planner:
    def __init__(self, config: PipelineConfig, facts: _Facts, problems: Problems,
                 blob_id: Callable[[str], str | None] | None) -> None:
        self.config = config
        self.facts = facts
        self.problems = problems
        self.blob_id = blob_id
        self.workflow_vars: dict[str, str] = {}
        self.auto_cancel: dict[str, str] = dict(config.auto_cancel)
        self.expansions: dict[tuple[tuple[tuple[str, str], ...], ...], dict[str, str]] = {}

    def expanded(self, *layers: Mapping[str, str], line: int | None, where: str) -> dict[str, str] | None:
        """The file's variables ``layers`` (later ones win) merged and expanded. Most jobs add nothing to the
        global variables, so each distinct combination is expanded once."""
        key = tuple(tuple(layer.items()) for layer in layers)
        if key not in self.expansions:
            try:
                self.expansions[key] = expand_all(_layers(*layers), self.facts.variables)
            except VariableLoop as exc:
                self.problems.error(line, f"{where}: {exc}")
                return None
        return dict(self.expansions[key])

    def context(self, expanded: dict[str, str], job: JobConfig | None = None,
                name: str | None = None) -> Mapping[str, str]:
        """What conditions see: the pipeline's variables over the file's, over the job's name and stage."""
        extra = {"CI_JOB_NAME": name or job.name, "CI_JOB_STAGE": job.stage} if job is not None else {}
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
        if rule.auto_cancel:
            self.auto_cancel.update(rule.auto_cancel)
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
            start_in = rule.start_in if rule.start_in is not None else job.start_in
            if when == "delayed" and start_in is None:
                self.problems.error(job.line, f"job {quote(job.name)}: {quote('when: delayed')} needs "
                                              f"{quote('start_in')}")
                return None
            return _Decision(when, allow_failure, rule.variables, rule.needs,
                             rule.interruptible, start_in if when == "delayed" else None)
        if job.when == "never":
            return None
        only = job.only
        if only is None and self.config.workflow_rules is None:
            only = RefFilter(refs=("branches", "tags"))
        if only is not None and not all(_filter_parts(only, context, self.facts)):
            return None
        if job.except_ is not None and any(_filter_parts(job.except_, context, self.facts)):
            return None
        return _Decision(job.when, job.allow_failure, {}, None, None, job.start_in if job.when == "delayed" else None)

    def plan_instance(self, job: JobConfig, instance: Instance) -> _Chosen | None:
        where = f"job {quote(instance.name)}"
        node = {}
        if instance.index is not None and instance.total is not None:
            node = {"CI_NODE_INDEX": str(instance.index), "CI_NODE_TOTAL": str(instance.total)}
        layers = (
            _inherited(self.config.variables, job.inherit_variables),
            _inherited(self.workflow_vars, job.inherit_variables),
            job.variables,
            dict(instance.matrix),
            node,
        )
        expanded = self.expanded(*layers, line=job.line, where=where)
        if expanded is None:
            return None
        decision = self.decide(job, self.context(expanded, job, instance.name))
        if decision is None:
            return None
        if decision.variables:
            final = self.expanded(*layers[:3], decision.variables, *layers[3:], line=job.line, where=where)
            if final is None:
                return None
            expanded = final
        return _Chosen(job, instance, decision, expanded)

    def run(self) -> Plan:
        if not self.workflow_allows():
            for ref in self.facts.bad_refs:
                self.problems.error(None, f"{quote('rules: changes: compare_to')}: {quote(ref)} is not a branch, tag "
                                          "or commit of this repository")
            self.problems.raise_if_any()
            return Plan(stages=(), jobs=(), skipped_by_workflow=True)
        chosen = [
            c for job in self.config.jobs for instance in instances(job)
            if (c := self.plan_instance(job, instance)) is not None
        ]
        for ref in self.facts.bad_refs:
            self.problems.error(None, f"{quote('rules: changes: compare_to')}: {quote(ref)} is not a branch, tag or "
                                      "commit of this repository")
        self.problems.raise_if_any()
        present = {c.job.stage for c in chosen}
        stages = tuple(stage for stage in self.config.stages if stage in present)
        by_job: dict[str, list[_Chosen]] = {}
        for c in chosen:
            by_job.setdefault(c.job.name, []).append(c)
        planned = [self.planned(c, stages, by_job, chosen) for c in chosen]
        self.problems.raise_if_any()
        global_vars = self.expanded(self.config.variables, self.workflow_vars, line=None, where=quote("variables"))
        name = substitute(self.config.workflow_name, self.context(global_vars or {})) \
            if self.config.workflow_name else ""
        return Plan(stages=stages, jobs=tuple(planned), workflow_name=name, auto_cancel=self.auto_cancel,
                    warnings=tuple(self.problems.warnings))

    @staticmethod
    def named(name: str, by_job: dict[str, list[_Chosen]]) -> list[_Chosen]:
        """The planned instances ``name`` means: every instance of a job, or one instance named directly."""
        if name in by_job:
            return by_job[name]
        return [c for chosen in by_job.values() for c in chosen if c.instance.name == name]

    def resolve_needs(self, c: _Chosen, needs: tuple[Need, ...], by_job: dict[str, list[_Chosen]],
                      ) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        """The instance names ``c`` needs, and those of them it takes artifacts from."""
        names: list[str] = []
        sources: list[str] = []
        job = c.job
        for need in needs:
            present = self.named(need.job, by_job)
            if need.matrix is not None:
                wanted = matrix_selection(need.matrix, dict(c.instance.matrix))
                present = [p for p in present if dict(p.instance.matrix) in wanted]
            if not present and not need.optional:
                what = quote(need.job)
                if need.matrix is not None:
                    what = " or ".join(quote(matrix_name(need.job, list(w.values())))
                                       for w in matrix_selection(need.matrix, dict(c.instance.matrix)))
                self.problems.error(
                    need.line or job.line, f"job {quote(c.instance.name)} needs job {what}, but {what} is not in "
                    "this pipeline (its rules, only or except left it out); to need a job that is not always "
                    "there, write {job: " + need.job + ", optional: true}",
                )
            for p in present:
                if p.instance.name not in names:
                    names.append(p.instance.name)
                if need.artifacts and p.instance.name not in sources:
                    sources.append(p.instance.name)
        if needs and not names:
            # Only optional needs, none of them here: the job runs in stage order, as GitLab intends
            # ("if the optional job exists wait for it, otherwise run as part of the chosen stage").
            return None, tuple(sources)
        return tuple(names), tuple(sources)

    def planned(self, c: _Chosen, stages: tuple[str, ...], by_job: dict[str, list[_Chosen]],
                chosen: list[_Chosen]) -> PlannedJob:
        job, decision, variables = c.job, c.decision, c.variables
        need_list = decision.needs if decision.needs is not None else job.need_list
        needs: tuple[str, ...] | None = None
        need_sources: tuple[str, ...] = ()
        if need_list is not None:
            needs, need_sources = self.resolve_needs(c, need_list, by_job)
        index = stages.index(job.stage)
        # GitLab: artifacts come from ``dependencies`` when given, else from the needed jobs (unless a need says
        # artifacts: false), else from every job of the earlier stages.
        sources: tuple[str, ...]
        if job.dependencies is not None:
            sources = tuple(p.instance.name for name in job.dependencies for p in self.named(name, by_job))
        elif needs is not None:
            sources = need_sources
        else:
            sources = tuple(o.instance.name for o in chosen if stages.index(o.job.stage) < index)
        context = self.context(variables, job, c.instance.name)
        image = Image(substitute(job.image.name, context), job.image.entrypoint) if job.image else None
        caches = tuple(
            dataclasses.replace(cache, key=files_cache_key(cache.key_files, cache.key_prefix, self.blob_id))
            if cache.key is None else cache
            for cache in job.cache
        )
        return PlannedJob(
            name=c.instance.name,
            stage=job.stage,
            stage_index=index,
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
            services=job.services,
            artifacts=job.artifacts,
            cache=caches,
            artifact_sources=sources,
            coverage=job.coverage,
            retry=job.retry,
            interruptible=decision.interruptible if decision.interruptible is not None else job.interruptible,
            resource_group=job.resource_group,
            environment=job.environment,
            start_in=decision.start_in,
            parallel=(c.instance.index, c.instance.total)
            if c.instance.index is not None and c.instance.total is not None else None,
            manual_confirmation=job.manual_confirmation,
            base_name=job.name,
            # A rule's allow_failure: true allows every failure; the exit codes only matter otherwise.
            allow_failure_exit_codes=() if decision.allow_failure else job.allow_failure_exit_codes,
        )


def plan(
    config: PipelineConfig,
    variables: Mapping[str, str],
    changed_paths: list[str] | None = None,
    exists: Callable[[str], bool] | None = None,
    blob_id: Callable[[str], str | None] | None = None,
    compare: CompareTo | None = None,
) -> Plan:
    """The jobs this trigger runs; raises ``ConfigErrors`` for problems that only show with these variables.
    ``blob_id`` gives a file's blob id at the commit (None when missing), for ``cache:key:files``; ``compare(ref)``
    the paths changed since that ref's commit, for ``rules:changes:compare_to`` (without it such a condition is
    true, like any ``changes`` whose paths are unknown)."""
    facts = _Facts(dict(variables), list(changed_paths) if changed_paths is not None else None, exists, compare)
    return _Planner(config, facts, Problems(), blob_id).run()
