"""Checking a pipeline file against the keywords we know, and turning it into ``ci.config.spec`` objects.

Top-level keys are keywords (``stages``, ``variables``, ``default``, ``workflow``, ``include`` — already merged by
``ci.config.includes`` — and the old global ``image``, ``services``, ``cache``, ``before_script``,
``after_script``, which act as ``default:``) or jobs; names starting with a dot are hidden jobs (templates for
``extends`` and anchors) and are only checked through the jobs that use them. Any key we do not know is an error
naming it and its line. GitLab keywords this forge reads but does not act on (``release``, ``secrets``,
``id_tokens``, ``pages``, ``hooks``…) are warnings saying what is missing; a job that cannot run here at all (a
``trigger`` job, CI/CD ``run`` steps) is left out with a warning, as are the jobs that lean on includes this forge
cannot read (``ci.config.leftout``) — never silently. A key written with no value (null) counts as not given, as
in GitLab. Single keywords are read by ``values``, ``rules``, ``delivery`` and ``jobkeys``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ci.config import delivery, jobkeys, leftout, values
from ci.config.checks import MAX_JOB_NAME, JobPlaces, check_graph, check_instance_names
from ci.config.expand import VariableLoop, expand_all
from ci.config.inherit import apply_extends, resolve_references
from ci.config.leftout import LeftOut, strip_nulls
from ci.config.problems import Problems, quote
from ci.config.rules import auto_cancel, parse_filter, parse_needs, parse_rules
from ci.config.spec import DEFAULT_STAGES, Inherit, JobConfig, PipelineConfig, Rule
from ci.config.values import check_keys, describe
from ci.config.yamlfile import LMap, Reference

TOP_KEYS = ("stages", "variables", "default", "workflow", "image", "before_script", "after_script", "services",
            "cache", "include")
# Deprecated global keywords GitLab still reads: they act as if written under ``default:``.
GLOBAL_DEFAULTS = ("image", "services", "cache", "before_script", "after_script")
RESERVED_NAMES = (*TOP_KEYS, "types")

JOB_KEYS = (
    "stage", "script", "before_script", "after_script", "image", "variables", "needs", "rules", "only", "except",
    "when", "allow_failure", "timeout", "tags", "extends", "type", "artifacts", "cache", "services", "parallel",
    "retry", "interruptible", "resource_group", "environment", "coverage", "dependencies", "start_in", "inherit",
    "manual_confirmation",
)
# GitLab job keywords this forge reads without acting on them (warnings), or that leave the job out.
JOB_ACCEPTED = (*leftout.JOB_IGNORED, *leftout.JOB_LEFT_OUT)
DEFAULT_KEYS = ("image", "before_script", "after_script", "tags", "timeout", "artifacts", "cache", "services",
                "retry", "interruptible")

JOB_WHEN = ("on_success", "on_failure", "always", "manual", "never", "delayed")
WORKFLOW_KEYS = ("rules", "name", "auto_cancel")
MAX_START_IN = 7 * 86400
MAX_RESOURCE_GROUP = 255


@dataclass
class Defaults:
    """``default:`` (and the old top-level ``image``/``services``/``cache``/``before_script``/``after_script``),
    already checked."""

    given: dict[str, Any] = field(default_factory=dict)


def parse_defaults(root: LMap, problems: Problems) -> Defaults:
    defaults = Defaults()
    section = root.get("default")
    raw: dict[str, tuple[Any, int]] = {}
    if "default" in root:
        if isinstance(section, LMap):
            check_keys(section, DEFAULT_KEYS, (), quote("default"), problems, accepted=tuple(leftout.DEFAULT_IGNORED))
            leftout.ignored_keys(section, quote("default"), leftout.DEFAULT_IGNORED, problems)
            raw = {key: (section[key], section.key_line(key)) for key in DEFAULT_KEYS
                   if section.get(key) is not None}
        elif section is not None:
            problems.error(root.key_line("default"), f"{quote('default')} must be a mapping, not {describe(section)}")
    for key in GLOBAL_DEFAULTS:
        if root.get(key) is not None:
            if key in raw:
                problems.error(root.key_line(key), f"{quote(key)} is given both at the top level and in "
                                                   f"{quote('default')}; keep the one in {quote('default')}")
            else:
                raw[key] = (root[key], root.key_line(key))
    where = quote("default")
    for key, (value, line) in raw.items():
        parsed = _parse_inheritable(key, value, line, where, problems)
        if parsed is not None:
            defaults.given[key] = parsed
    return defaults


def _parse_inheritable(key: str, value: Any, line: int, where: str, problems: Problems) -> Any:
    if key == "image":
        return values.image(value, line, where, problems)
    if key in ("before_script", "after_script"):
        return values.script(value, line, where, key, problems)
    if key == "tags":
        return values.text_list(value, line, where, key, problems)
    if key == "artifacts":
        return delivery.artifacts(value, line, where, problems)
    if key == "cache":
        return delivery.caches(value, line, where, problems)
    if key == "services":
        return delivery.services(value, line, where, problems)
    if key == "retry":
        return jobkeys.retry(value, line, where, problems)
    if key == "interruptible":
        return values.boolean(value, line, where, key, problems)
    return values.timeout(value, line, where, problems)


def parse_stages(root: LMap, problems: Problems) -> tuple[str, ...]:
    if "stages" not in root:
        return DEFAULT_STAGES
    line = root.key_line("stages")
    listed = values.text_list(root["stages"], line, quote("stages"), "stages", problems)
    if listed is None:
        return DEFAULT_STAGES
    names = list(dict.fromkeys(listed))
    if ".pre" in names and names[0] != ".pre":
        problems.error(line, f"{quote('.pre')} is always the first stage; it cannot be listed elsewhere")
    if ".post" in names and names[-1] != ".post":
        problems.error(line, f"{quote('.post')} is always the last stage; it cannot be listed elsewhere")
    middle = [name for name in names if name not in (".pre", ".post")]
    return (".pre", *middle, ".post")


@dataclass
class Workflow:
    rules: tuple[Rule, ...] | None = None
    name: str = ""
    auto_cancel: dict[str, str] = field(default_factory=dict)


def parse_workflow(root: LMap, problems: Problems) -> Workflow:
    workflow = Workflow()
    if "workflow" not in root:
        return workflow
    section = root["workflow"]
    where = quote("workflow")
    if not isinstance(section, LMap):
        problems.error(root.key_line("workflow"), f"{where} must be a mapping with {quote('rules')}, "
                                                  f"not {describe(section)}")
        return workflow
    check_keys(section, WORKFLOW_KEYS, (), where, problems)
    if "name" in section:
        workflow.name = values.text(section["name"], section.key_line("name"), where, "name", problems) or ""
    if "auto_cancel" in section:
        workflow.auto_cancel = auto_cancel(section["auto_cancel"], section.key_line("auto_cancel"), where,
                                           problems) or {}
    if "rules" in section:
        workflow.rules = parse_rules(section["rules"], section.key_line("rules"), where, problems, workflow=True)
    return workflow


class _JobReader:
    def __init__(self, name: str, entry: LMap, line: int, defaults: Defaults, problems: Problems,
                 left_out: LeftOut) -> None:
        self.name = name
        self.entry = strip_nulls(entry)
        self.left_out = left_out
        self.line = line
        self.defaults = defaults
        self.problems = problems
        self.where = f"job {quote(name)}"
        self.ok = True
        self.inherit = Inherit()

    def get(self, key: str, reader: Callable[[Any, int], Any]) -> Any:
        if key not in self.entry:
            return None
        parsed = reader(self.entry[key], self.entry.key_line(key))
        if parsed is None:
            self.ok = False
        return parsed

    def inherited(self, key: str) -> Any:
        if key in self.entry:
            return self.get(key, lambda v, ln: _parse_inheritable(key, v, ln, self.where, self.problems))
        wanted = self.inherit.default
        if wanted is not None and key not in wanted:
            return None  # inherit: default: false (or a list without this keyword)
        return self.defaults.given.get(key)

    def read(self) -> tuple[JobConfig, JobPlaces] | None:
        entry, where, problems = self.entry, self.where, self.problems
        self.ok = check_keys(entry, JOB_KEYS, (), where, problems, accepted=JOB_ACCEPTED)
        kind = leftout.left_out_kind(entry)
        if kind is not None:
            self.left_out.jobs.add(self.name)
            leftout.warn_left_out_kind(self.name, entry, kind, problems)
            return None
        leftout.ignored_keys(entry, where, leftout.JOB_IGNORED, problems)
        if "script" not in entry:
            if self.left_out.active:
                self.left_out.no_script(self.name, self.line)
            else:
                problems.error(self.line, f"{where} has no {quote('script')}: every job needs one")
            return None
        self.inherit = self.get("inherit", lambda v, ln: jobkeys.inherit(v, ln, where, DEFAULT_KEYS, problems)) \
            or Inherit()
        script = self.get("script", lambda v, ln: values.script(v, ln, where, "script", problems))
        if script == ():
            problems.error(entry.key_line("script"), f"{where}: {quote('script')} is empty")
            self.ok = False
        stage_key = "stage" if "stage" in entry or "type" not in entry else "type"
        stage = self.get(stage_key, lambda v, ln: self._stage(v, ln)) or "test"
        when = self.get("when", lambda v, ln: values.one_of(v, ln, where, "when", JOB_WHEN, problems)) or "on_success"
        allowed = self.get("allow_failure", lambda v, ln: jobkeys.allow_failure(v, ln, where, problems))
        allow_failure, exit_codes = allowed if allowed is not None else (None, ())
        rules = self.get("rules", lambda v, ln: parse_rules(v, ln, where, problems))
        only = self.get("only", lambda v, ln: parse_filter(v, ln, where, "only", problems))
        except_ = self.get("except", lambda v, ln: parse_filter(v, ln, where, "except", problems))
        if "rules" in entry and ("only" in entry or "except" in entry):
            key = "only" if "only" in entry else "except"
            problems.error(entry.key_line(key), f"{where}: {quote(key)} cannot be used together with "
                                                f"{quote('rules')}; use rules alone")
            self.ok = False
        needs = self.get("needs", lambda v, ln: parse_needs(v, ln, where, problems))
        variables = self.get("variables", lambda v, ln: values.variables(v, ln, where, problems)) or {}
        start_in = self._start_in(when)
        retry = self.inherited("retry")
        interruptible = self.inherited("interruptible")
        job = JobConfig(
            name=self.name,
            line=self.line,
            stage=stage,
            script=script or (),
            before_script=self.inherited("before_script") or (),
            after_script=self.inherited("after_script") or (),
            image=self.inherited("image"),
            variables=variables,
            needs=tuple(dict.fromkeys(n.job for n in needs)) if needs is not None else None,
            optional_needs=frozenset(n.job for n in needs if n.optional) if needs is not None else frozenset(),
            rules=rules,
            only=only,
            except_=except_,
            when=when,
            # GitLab: a manual job may fail unless it says otherwise (manual jobs do not block the pipeline).
            allow_failure=allow_failure if allow_failure is not None else when == "manual",
            allow_failure_exit_codes=exit_codes,
            timeout_seconds=self.inherited("timeout"),
            tags=self.inherited("tags") or (),
            need_list=needs,
            services=self.inherited("services") or (),
            artifacts=self.inherited("artifacts"),
            cache=self.inherited("cache") or (),
            parallel=self.get("parallel", lambda v, ln: jobkeys.parallel(v, ln, where, problems)),
            retry=retry if retry is not None else jobkeys.Retry(),
            interruptible=bool(interruptible),
            resource_group=self.get("resource_group", self._resource_group) or "",
            environment=self.get("environment", lambda v, ln: jobkeys.environment(v, ln, where, problems)),
            coverage=self.get("coverage", lambda v, ln: jobkeys.coverage(v, ln, where, problems)),
            dependencies=self.get("dependencies", lambda v, ln: values.text_list(v, ln, where, "dependencies",
                                                                                   problems)),
            start_in=start_in,
            inherit_variables=self.inherit.variables,
            manual_confirmation=self.get("manual_confirmation", lambda v, ln: values.text(
                v, ln, where, "manual_confirmation", problems)) or "",
        )
        if not self.ok:
            return None
        environment_entry = entry.get("environment")
        on_stop_line = environment_entry.key_line("on_stop") if isinstance(environment_entry, LMap) else 0
        return job, JobPlaces(entry.key_line(stage_key), needs, entry.key_line("dependencies"), on_stop_line)

    def _start_in(self, when: str) -> int | None:
        entry, where = self.entry, self.where
        if "start_in" not in entry:
            if when == "delayed":
                self.problems.error(entry.key_line("when"), f"{where}: {quote('when: delayed')} needs "
                                                            f"{quote('start_in')} (such as “30 minutes”)")
                self.ok = False
            return None
        parsed = self.get("start_in", lambda v, ln: values.duration(v, ln, where, "start_in", self.problems,
                                                                      maximum=MAX_START_IN))
        if parsed is None:
            return None
        if when != "delayed" and "rules" not in entry:
            self.problems.error(entry.key_line("start_in"), f"{where}: {quote('start_in')} is only used with "
                                                            f"{quote('when: delayed')}")
            self.ok = False
            return None
        return int(parsed[0] or 0)

    def _resource_group(self, value: Any, line: int) -> str | None:
        text = values.text(value, line, self.where, "resource_group", self.problems)
        if text is not None and len(text) > MAX_RESOURCE_GROUP:
            self.problems.error(line, f"{self.where}: {quote('resource_group')} is longer than "
                                      f"{MAX_RESOURCE_GROUP} characters")
            return None
        return text

    def _stage(self, value: Any, line: int) -> str | None:
        if isinstance(value, str) and value:
            return value
        self.problems.error(line, f"{self.where}: {quote('stage')} must be a stage name, not {describe(value)}")
        return None


def _check_variable_loops(config_vars: dict[str, str], jobs: list[JobConfig], root: LMap, problems: Problems) -> None:
    try:
        expand_all(config_vars, {})
    except VariableLoop as exc:
        problems.error(root.key_line("variables"), f"{quote('variables')}: {exc}")
        return
    for job in jobs:
        if not job.variables:
            continue  # the same set as the global one, checked above
        try:
            expand_all({**config_vars, **job.variables}, {})
        except VariableLoop as exc:
            problems.error(job.line, f"job {quote(job.name)}: {exc}")


def build(root: LMap, problems: Problems, left_out_includes: tuple[str, ...] = ()) -> PipelineConfig | None:
    """The whole file: keywords, then jobs, then the checks across jobs. None when there are errors.
    ``left_out_includes`` names the includes that could not be read (``ci.config.leftout``)."""
    left_out = LeftOut(left_out_includes, problems)
    entries: list[str] = []
    for key in root:
        value = root[key]
        line = root.key_line(key)
        if key in RESERVED_NAMES:
            if isinstance(value, LMap) and "script" in value:
                problems.error(line, f"{quote(key)} is a reserved keyword and cannot be the name of a job")
            elif key == "types":
                problems.error(line, f"{quote('types')} is the removed old name of {quote('stages')}; "
                                     f"use {quote('stages')}")
            continue
        entries.append(key)

    missing_bases: dict[str, str] | None = {} if left_out.active else None
    extended = apply_extends(root, entries, problems, missing_bases)
    merged = LMap(root.line)
    for key in root:
        merged.put(key, extended.get(key, root[key]), root.key_line(key))
    missing_refs: dict[str, Reference] | None = {} if left_out.active else None
    full = resolve_references(merged, problems, missing_refs)
    for key, ref in (missing_refs or {}).items():
        if key == "default":
            left_out.default_reference(ref)
        elif key not in entries:
            problems.error(ref.line, f"{ref}: it names something not defined in this file")

    stages = parse_stages(full, problems)
    global_vars = values.variables(full.get("variables"), full.key_line("variables"), quote("variables"),
                                   problems) or {}
    defaults = parse_defaults(full, problems)
    workflow = parse_workflow(full, problems)

    jobs: list[JobConfig] = []
    places: dict[str, JobPlaces] = {}
    hidden: set[str] = set()
    for name in entries:
        value = full[name]
        line = full.key_line(name)
        if name.startswith("."):
            hidden.add(name)
            continue
        if not isinstance(value, LMap):
            close = difflib.get_close_matches(name, TOP_KEYS, n=1, cutoff=0.75)
            hint = f" (did you mean the keyword {quote(close[0])}?)" if close else ""
            problems.error(line, f"{quote(name)} is not a keyword{hint}; as a job it must be a mapping with "
                                 f"{quote('script')}, not {describe(value)}")
            continue
        if len(name) > MAX_JOB_NAME or not name.strip():
            problems.error(line, f"the job name {quote(name[:40])} must be 1 to {MAX_JOB_NAME} characters")
            continue
        if missing_bases and name in missing_bases:
            left_out.extends(name, full.key_line(name), missing_bases[name])
            continue
        if missing_refs and name in missing_refs:
            left_out.reference(name, line, missing_refs[name])
            continue
        read = _JobReader(name, value, line, defaults, problems, left_out).read()
        if read is not None:
            jobs.append(read[0])
            places[name] = read[1]
    jobs = left_out.cascade(jobs, (n for n in entries if not n.startswith(".")))

    if not jobs and not problems:
        if left_out.jobs:
            left_out.nothing_left()
        else:
            problems.error(None, "the file defines no jobs (a job is a top-level name with a “script”; "
                                 "names starting with “.” are hidden)")
    check_graph(jobs, places, stages, {n for n in entries if not n.startswith(".")}, hidden, problems)
    check_instance_names(jobs, problems)
    _check_variable_loops(global_vars, jobs, full, problems)
    if problems:
        return None
    return PipelineConfig(
        left_out_includes=left_out_includes,
        stages=stages,
        variables=global_vars,
        workflow_rules=workflow.rules,
        jobs=tuple(jobs),
        warnings=tuple(problems.warnings),
        workflow_name=workflow.name,
        auto_cancel=workflow.auto_cancel,
    )


def used_stages(config: PipelineConfig) -> tuple[str, ...]:
    """The stages that have at least one job, in order."""
    present = {job.stage for job in config.jobs}
    return tuple(stage for stage in config.stages if stage in present)


