"""Checking a pipeline file against the keywords we know, and turning it into ``ci.config.spec`` objects.

Top-level keys are keywords (``stages``, ``variables``, ``default``, ``workflow`` and the old global ``image``,
``before_script``, ``after_script``) or jobs; names starting with a dot are hidden jobs (templates for ``extends``
and anchors) and are only checked through the jobs that use them. Any key we do not know is an error naming it and
its line; GitLab keywords we do not implement yet (``include``, ``cache``, ``artifacts``, ``services``…) are
errors saying so, rather than being skipped, since a pipeline that silently ignores its cache or artifacts would
not do what its author expects.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ci.config import values
from ci.config.expand import VariableLoop, expand_all
from ci.config.expressions import ExpressionError, check, compile_pattern
from ci.config.inherit import apply_extends, resolve_references
from ci.config.problems import Problems, quote
from ci.config.spec import DEFAULT_STAGES, JobConfig, PipelineConfig, RefFilter, Rule
from ci.config.values import describe
from ci.config.yamlfile import LList, LMap

TOP_KEYS = ("stages", "variables", "default", "workflow", "image", "before_script", "after_script")
TOP_LATER = ("include", "services", "cache")
RESERVED_NAMES = (*TOP_KEYS, *TOP_LATER, "types")

JOB_KEYS = (
    "stage", "script", "before_script", "after_script", "image", "variables", "needs", "rules", "only", "except",
    "when", "allow_failure", "timeout", "tags", "extends", "type",
)
# GitLab job keywords that arrive later (most with issue 5): reported as "not supported yet".
JOB_LATER = (
    "artifacts", "cache", "services", "parallel", "retry", "interruptible", "resource_group", "environment",
    "coverage", "dependencies", "start_in", "release", "secrets", "inherit", "trigger", "pages", "id_tokens",
    "hooks", "identity", "manual_confirmation", "dast_configuration", "run",
)
DEFAULT_KEYS = ("image", "before_script", "after_script", "tags", "timeout")
DEFAULT_LATER = ("artifacts", "cache", "services", "retry", "interruptible", "hooks", "id_tokens")

JOB_WHEN = ("on_success", "on_failure", "always", "manual", "never")
RULE_KEYS = ("if", "changes", "exists", "when", "allow_failure", "variables")
RULE_LATER = ("start_in", "needs", "interruptible", "auto_cancel")
WORKFLOW_KEYS = ("rules",)
WORKFLOW_LATER = ("name", "auto_cancel")
WORKFLOW_RULE_KEYS = ("if", "changes", "exists", "when", "variables")
WORKFLOW_RULE_LATER = ("auto_cancel",)
NEED_KEYS = ("job", "optional", "artifacts")
NEED_LATER = ("pipeline", "project", "ref", "parallel")
FILTER_KEYS = ("refs", "variables", "changes")
FILTER_LATER = ("kubernetes",)
DEFAULT_ONLY_REFS = ("branches", "tags")
MAX_JOB_NAME = 255


def check_keys(
    mapping: LMap, known: tuple[str, ...], later: tuple[str, ...], where: str, problems: Problems
) -> bool:
    """Report unknown keys (with a "did you mean" when one is close) and keys not supported yet."""
    ok = True
    for key in mapping:
        if key in known:
            continue
        ok = False
        line = mapping.key_line(key)
        if key in later:
            problems.error(line, f"{where}: {quote(key)} is not supported yet")
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f"; did you mean {quote(close[0])}?" if close else ""
        if not close and len(known) <= 8:
            hint = f" (known: {', '.join(known)})"
        problems.error(line, f"{where}: unknown key {quote(key)}{hint}")
    return ok


def _mapping_items(
    value: Any, line: int, where: str, what: str, problems: Problems
) -> list[tuple[LMap, int]] | None:
    """A list of mappings (rules, needs-like lists), nested lists spliced in."""
    if not isinstance(value, LList):
        problems.error(line, f"{where}: {quote(what)} must be a list, not {describe(value)}")
        return None
    items = []
    for item, item_line in values.flatten(value, line, where, quote(what), problems):
        if not isinstance(item, LMap):
            problems.error(item_line, f"{where}: each entry of {quote(what)} must be a mapping, not {describe(item)}")
            continue
        items.append((item, item_line))
    return items


def _globs(value: Any, line: int, where: str, what: str, problems: Problems) -> tuple[str, ...] | None:
    """``changes``/``exists``: a list of patterns, or ``{paths: [...]}``."""
    if isinstance(value, LMap):
        check_keys(value, ("paths",), ("compare_to", "project", "ref"), f"{where}: {quote(what)}", problems)
        if "paths" not in value:
            problems.error(value.line, f"{where}: {quote(what)} needs {quote('paths')}")
            return None
        return values.text_list(value["paths"], value.key_line("paths"), where, f"{what}: paths", problems)
    return values.text_list(value, line, where, what, problems)


def _expression(text: Any, line: int, where: str, what: str, problems: Problems) -> str | None:
    if not isinstance(text, str):
        problems.error(line, f"{where}: {quote(what)} must be an expression (text), not {describe(text)}")
        return None
    try:
        check(text)
    except ExpressionError as exc:
        problems.error(line, f"{where}: bad {quote(what)} expression {quote(text)}: {exc}")
        return None
    return text


def parse_rules(
    value: Any, line: int, where: str, problems: Problems, *, workflow: bool = False
) -> tuple[Rule, ...] | None:
    items = _mapping_items(value, line, where, "rules", problems)
    if items is None:
        return None
    keys, later = (WORKFLOW_RULE_KEYS, WORKFLOW_RULE_LATER) if workflow else (RULE_KEYS, RULE_LATER)
    allowed_when = ("always", "never") if workflow else JOB_WHEN
    rules: list[Rule] = []
    ok = True
    for rule, rule_line in items:
        ok = check_keys(rule, keys, later, f"{where}: rule", problems) and ok
        if not rule:
            problems.error(rule_line, f"{where}: a rule needs at least one of if, changes, exists, when")
            ok = False
            continue
        if_expr = changes = exists = when = allow_failure = None
        variables: dict[str, str] | None = {}
        if "if" in rule:
            if_expr = _expression(rule["if"], rule.key_line("if"), where, "rules: if", problems)
            ok = ok and if_expr is not None
        if "changes" in rule:
            changes = _globs(rule["changes"], rule.key_line("changes"), where, "rules: changes", problems)
            ok = ok and changes is not None
        if "exists" in rule:
            exists = _globs(rule["exists"], rule.key_line("exists"), where, "rules: exists", problems)
            ok = ok and exists is not None
        if "when" in rule:
            raw_when = rule["when"]
            if raw_when == "delayed" and not workflow:
                problems.error(rule.key_line("when"), f"{where}: {quote('when: delayed')} is not supported yet")
                ok = False
            else:
                when = values.one_of(raw_when, rule.key_line("when"), where, "rules: when", allowed_when, problems)
                ok = ok and when is not None
        if "allow_failure" in rule:
            allow_failure = values.boolean(
                rule["allow_failure"], rule.key_line("allow_failure"), where, "rules: allow_failure", problems
            )
            ok = ok and allow_failure is not None
        if "variables" in rule:
            variables = values.variables(rule["variables"], rule.key_line("variables"), where, problems)
            ok = ok and variables is not None
        rules.append(Rule(if_expr, changes, exists, when, allow_failure, variables or {}))
    return tuple(rules) if ok else None


def _ref_patterns(refs: tuple[str, ...], line: int, where: str, problems: Problems) -> bool:
    ok = True
    for ref in refs:
        pattern = ref.split("@", 1)[0]
        if len(pattern) > 1 and pattern.startswith("/"):
            try:
                compile_pattern(pattern)
            except ExpressionError as exc:
                problems.error(line, f"{where}: {exc}")
                ok = False
    return ok


def parse_filter(value: Any, line: int, where: str, what: str, problems: Problems) -> RefFilter | None:
    """Legacy ``only``/``except``: a list of refs (names, /regex/, keywords) or ``{refs, variables, changes}``."""
    if isinstance(value, str | LList):
        listed = values.text_list(value, line, where, what, problems)
        if listed is None or not _ref_patterns(listed, line, where, problems):
            return None
        return RefFilter(refs=listed)
    if not isinstance(value, LMap) or not value:
        problems.error(line, f"{where}: {quote(what)} must be a list of refs or a mapping of refs, variables and "
                             f"changes, not {describe(value)}")
        return None
    ok = check_keys(value, FILTER_KEYS, FILTER_LATER, f"{where}: {quote(what)}", problems)
    refs: tuple[str, ...] | None = DEFAULT_ONLY_REFS if what == "only" else ()
    expressions: list[str] = []
    changes: tuple[str, ...] | None = ()
    if "refs" in value:
        refs = values.text_list(value["refs"], value.key_line("refs"), where, f"{what}: refs", problems)
        patterns_ok = refs is not None and _ref_patterns(refs, value.key_line("refs"), where, problems)
        ok = ok and patterns_ok
    if "variables" in value:
        raw = values.text_list(value["variables"], value.key_line("variables"), where, f"{what}: variables", problems)
        for text in raw or ():
            checked = _expression(text, value.key_line("variables"), where, f"{what}: variables", problems)
            if checked is None:
                ok = False
            else:
                expressions.append(checked)
        ok = ok and raw is not None
    if "changes" in value:
        changes = values.text_list(value["changes"], value.key_line("changes"), where, f"{what}: changes", problems)
        ok = ok and changes is not None
    if not ok or refs is None or changes is None:
        return None
    return RefFilter(refs=refs, variables=tuple(expressions), changes=changes)


@dataclass
class Needs:
    names: tuple[str, ...]
    optional: frozenset[str]
    lines: dict[str, int]


def parse_needs(value: Any, line: int, where: str, problems: Problems) -> Needs | None:
    if not isinstance(value, LList):
        problems.error(line, f"{where}: {quote('needs')} must be a list of jobs (or [] to start at once), "
                             f"not {describe(value)}")
        return None
    names: list[str] = []
    optional: set[str] = set()
    lines: dict[str, int] = {}
    ok = True
    for item, item_line in values.flatten(value, line, where, quote("needs"), problems):
        name: Any = item
        if isinstance(item, LMap):
            ok = check_keys(item, NEED_KEYS, NEED_LATER, f"{where}: {quote('needs')}", problems) and ok
            name = item.get("job")
            if "optional" in item:
                flag = values.boolean(item["optional"], item.key_line("optional"), where, "needs: optional", problems)
                if flag:
                    optional.add(str(name))
                ok = ok and flag is not None
            if "artifacts" in item:
                # Accepted and without effect until artifacts exist (issue 5); true or false changes nothing yet.
                ok = values.boolean(item["artifacts"], item.key_line("artifacts"), where, "needs: artifacts",
                                    problems) is not None and ok
        if not isinstance(name, str) or not name:
            problems.error(item_line, f"{where}: each entry of {quote('needs')} must be a job name or "
                                      f"{{job: name, optional: true}}, not {describe(item)}")
            ok = False
            continue
        if name not in lines:
            names.append(name)
            lines[name] = item_line
    return Needs(tuple(names), frozenset(optional), lines) if ok else None


@dataclass
class Defaults:
    """``default:`` (and the old top-level ``image``/``before_script``/``after_script``), already checked."""

    given: dict[str, Any] = field(default_factory=dict)


def parse_defaults(root: LMap, problems: Problems) -> Defaults:
    defaults = Defaults()
    section = root.get("default")
    raw: dict[str, tuple[Any, int]] = {}
    if "default" in root:
        if isinstance(section, LMap):
            check_keys(section, DEFAULT_KEYS, DEFAULT_LATER, quote("default"), problems)
            raw = {key: (section[key], section.key_line(key)) for key in DEFAULT_KEYS if key in section}
        elif section is not None:
            problems.error(root.key_line("default"), f"{quote('default')} must be a mapping, not {describe(section)}")
    for key in ("image", "before_script", "after_script"):
        if key in root:
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


def parse_workflow(root: LMap, problems: Problems) -> tuple[Rule, ...] | None:
    if "workflow" not in root:
        return None
    section = root["workflow"]
    where = quote("workflow")
    if not isinstance(section, LMap):
        problems.error(root.key_line("workflow"), f"{where} must be a mapping with {quote('rules')}, "
                                                  f"not {describe(section)}")
        return None
    check_keys(section, WORKFLOW_KEYS, WORKFLOW_LATER, where, problems)
    if "rules" not in section:
        return None
    return parse_rules(section["rules"], section.key_line("rules"), where, problems, workflow=True)


@dataclass
class JobPlaces:
    """Where a job's stage and needs are written, for the checks that span jobs."""

    stage_line: int
    needs: Needs | None


class _JobReader:
    def __init__(self, name: str, entry: LMap, line: int, defaults: Defaults, problems: Problems) -> None:
        self.name = name
        self.entry = entry
        self.line = line
        self.defaults = defaults
        self.problems = problems
        self.where = f"job {quote(name)}"
        self.ok = True

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
        return self.defaults.given.get(key)

    def read(self) -> tuple[JobConfig, JobPlaces] | None:
        entry, where, problems = self.entry, self.where, self.problems
        self.ok = check_keys(entry, JOB_KEYS, JOB_LATER, where, problems)
        if "script" not in entry:
            if "trigger" not in entry and "run" not in entry:  # those are reported as not supported already
                problems.error(self.line, f"{where} has no {quote('script')}: every job needs one")
            return None
        script = self.get("script", lambda v, ln: values.script(v, ln, where, "script", problems))
        if script == ():
            problems.error(entry.key_line("script"), f"{where}: {quote('script')} is empty")
            self.ok = False
        stage_key = "stage" if "stage" in entry or "type" not in entry else "type"
        stage = self.get(stage_key, lambda v, ln: self._stage(v, ln)) or "test"
        when = self.get("when", self._when) or "on_success"
        allow_failure = self.get("allow_failure", self._allow_failure)
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
        job = JobConfig(
            name=self.name,
            line=self.line,
            stage=stage,
            script=script or (),
            before_script=self.inherited("before_script") or (),
            after_script=self.inherited("after_script") or (),
            image=self.inherited("image"),
            variables=variables,
            needs=needs.names if needs is not None else None,
            optional_needs=needs.optional if needs is not None else frozenset(),
            rules=rules,
            only=only,
            except_=except_,
            when=when,
            # GitLab: a manual job may fail unless it says otherwise (manual jobs do not block the pipeline).
            allow_failure=allow_failure if allow_failure is not None else when == "manual",
            timeout_seconds=self.inherited("timeout"),
            tags=self.inherited("tags") or (),
        )
        if not self.ok:
            return None
        return job, JobPlaces(entry.key_line(stage_key), needs)

    def _stage(self, value: Any, line: int) -> str | None:
        if isinstance(value, str) and value:
            return value
        self.problems.error(line, f"{self.where}: {quote('stage')} must be a stage name, not {describe(value)}")
        return None

    def _when(self, value: Any, line: int) -> str | None:
        if value == "delayed":
            self.problems.error(line, f"{self.where}: {quote('when: delayed')} is not supported yet")
            return None
        return values.one_of(value, line, self.where, "when", JOB_WHEN, self.problems)

    def _allow_failure(self, value: Any, line: int) -> bool | None:
        if isinstance(value, LMap) and "exit_codes" in value:
            self.problems.error(line, f"{self.where}: {quote('allow_failure: exit_codes')} is not supported yet")
            return None
        return values.boolean(value, line, self.where, "allow_failure", self.problems)


def _check_graph(
    jobs: list[JobConfig], places: dict[str, JobPlaces], stages: tuple[str, ...], names: set[str],
    hidden: set[str], problems: Problems,
) -> None:
    """Stages exist; needs name defined jobs of the same or an earlier stage, without loops."""
    by_name = {job.name: job for job in jobs}
    for job in jobs:
        if job.stage not in stages:
            listed = ", ".join(s for s in stages if s not in (".pre", ".post"))
            problems.error(places[job.name].stage_line, f"job {quote(job.name)}: the stage {quote(job.stage)} is "
                                                        f"not in {quote('stages')} ({listed})")
    for job in jobs:
        needs = places[job.name].needs
        if needs is None:
            continue
        for name in needs.names:
            line = needs.lines[name]
            other = by_name.get(name)
            if other is None and name in names:
                continue  # a job with problems of its own, reported already
            if other is None:
                what = "a hidden job (hidden jobs never run)" if name in hidden else "not a job in this file"
                problems.error(line, f"job {quote(job.name)} needs {quote(name)}, which is {what}")
            elif (
                job.stage in stages and other.stage in stages and stages.index(other.stage) > stages.index(job.stage)
            ):
                problems.error(line, f"job {quote(job.name)} (stage {quote(job.stage)}) needs {quote(name)}, which "
                                     f"is in the later stage {quote(other.stage)}")
    _check_needs_loops(jobs, places, problems)


def _check_needs_loops(jobs: list[JobConfig], places: dict[str, JobPlaces], problems: Problems) -> None:
    """Depth-first search without recursion (a long chain of needs must not exhaust Python's stack)."""
    graph = {job.name: [n for n in (job.needs or ()) if n in places] for job in jobs}
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
                    line = needs.lines.get(loop[1]) if needs is not None else None
                    problems.error(line, "the needs of jobs go round in a circle: "
                                         + " → ".join(quote(n) for n in loop))
            elif other not in state:
                state[other] = 1
                path.append(other)
                pending.append(iter(graph[other]))


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


def build(root: LMap, problems: Problems) -> PipelineConfig | None:
    """The whole file: keywords, then jobs, then the checks across jobs. None when there are errors."""
    entries: list[str] = []
    for key in root:
        value = root[key]
        line = root.key_line(key)
        if key in RESERVED_NAMES:
            if isinstance(value, LMap) and "script" in value:
                problems.error(line, f"{quote(key)} is a reserved keyword and cannot be the name of a job")
            elif key in TOP_LATER:
                problems.error(line, f"{quote(key)} is not supported yet")
            elif key == "types":
                problems.error(line, f"{quote('types')} is the removed old name of {quote('stages')}; "
                                     f"use {quote('stages')}")
            continue
        entries.append(key)

    extended = apply_extends(root, entries, problems)
    merged = LMap(root.line)
    for key in root:
        merged.put(key, extended.get(key, root[key]), root.key_line(key))
    full = resolve_references(merged, problems)

    stages = parse_stages(full, problems)
    global_vars = values.variables(full.get("variables"), full.key_line("variables"), quote("variables"),
                                   problems) or {}
    defaults = parse_defaults(full, problems)
    workflow_rules = parse_workflow(full, problems)

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
        read = _JobReader(name, value, line, defaults, problems).read()
        if read is not None:
            jobs.append(read[0])
            places[name] = read[1]

    if not jobs and not problems:
        problems.error(None, "the file defines no jobs (a job is a top-level name with a “script”; "
                             "names starting with “.” are hidden)")
    _check_graph(jobs, places, stages, {n for n in entries if not n.startswith(".")}, hidden, problems)
    _check_variable_loops(global_vars, jobs, full, problems)
    if problems:
        return None
    return PipelineConfig(
        stages=stages,
        variables=global_vars,
        workflow_rules=workflow_rules,
        jobs=tuple(jobs),
        warnings=tuple(problems.warnings),
    )


def used_stages(config: PipelineConfig) -> tuple[str, ...]:
    """The stages that have at least one job, in order."""
    present = {job.stage for job in config.jobs}
    return tuple(stage for stage in config.stages if stage in present)


