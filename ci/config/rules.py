"""Reading the conditions of a pipeline file: ``rules`` (jobs' and ``workflow``'s), the old ``only``/``except``,
and ``needs`` (also ``rules:needs``), with GitLab's forms and limits."""

from __future__ import annotations

from typing import Any

from ci.config import values
from ci.config.expressions import ExpressionError, check, compile_ref_pattern
from ci.config.problems import Problems, quote
from ci.config.spec import Need, RefFilter, Rule
from ci.config.values import check_keys, describe, mapping_items
from ci.config.yamlfile import LList, LMap

JOB_WHEN = ("on_success", "on_failure", "always", "manual", "never", "delayed")
RULE_KEYS = ("if", "changes", "exists", "when", "allow_failure", "variables", "start_in", "needs", "interruptible")
RULE_LATER = ("auto_cancel",)
WORKFLOW_RULE_KEYS = ("if", "changes", "exists", "when", "variables", "auto_cancel")
NEED_KEYS = ("job", "optional", "artifacts", "parallel")
NEED_LATER = ("pipeline", "project", "ref")
FILTER_KEYS = ("refs", "variables", "changes")
FILTER_LATER = ("kubernetes",)
DEFAULT_ONLY_REFS = ("branches", "tags")
MAX_START_IN = 7 * 86400  # GitLab: a delayed job starts within a week
MAX_NEEDS = 50  # GitLab's default limit of needs per job
AUTO_CANCEL_KEYS = ("on_new_commit", "on_job_failure")
ON_NEW_COMMIT = ("conservative", "interruptible", "none")
ON_JOB_FAILURE = ("none", "all")


def changes(value: Any, line: int, where: str, problems: Problems) -> tuple[tuple[str, ...], str | None] | None:
    """``rules:changes``: a list of patterns, or ``{paths: [...], compare_to: ref}``: (patterns, compare_to)."""
    compare_to: str | None = None
    if isinstance(value, LMap) and "compare_to" in value:
        compare_to = values.text(value["compare_to"], value.key_line("compare_to"), where,
                                 "rules: changes: compare_to", problems)
        if compare_to is None:
            return None
        rest = LMap(value.line)
        for key, item in value.items():
            if key != "compare_to":
                rest.put(key, item, value.key_line(key))
        value = rest
    patterns = globs(value, line, where, "rules: changes", problems)
    return (patterns, compare_to) if patterns is not None else None


def globs(value: Any, line: int, where: str, what: str, problems: Problems) -> tuple[str, ...] | None:
    """``changes``/``exists``: a list of patterns, or ``{paths: [...]}``."""
    if isinstance(value, LMap):
        check_keys(value, ("paths",), ("project", "ref"), f"{where}: {quote(what)}", problems)
        if "paths" not in value:
            problems.error(value.line, f"{where}: {quote(what)} needs {quote('paths')}")
            return None
        return values.text_list(value["paths"], value.key_line("paths"), where, f"{what}: paths", problems)
    return values.text_list(value, line, where, what, problems)


def expression(text: Any, line: int, where: str, what: str, problems: Problems) -> str | None:
    if not isinstance(text, str):
        problems.error(line, f"{where}: {quote(what)} must be an expression (text), not {describe(text)}")
        return None
    try:
        check(text)
    except ExpressionError as exc:
        problems.error(line, f"{where}: bad {quote(what)} expression {quote(text)}: {exc}")
        return None
    return text


def auto_cancel(value: Any, line: int, where: str, problems: Problems) -> dict[str, str] | None:
    """``workflow:auto_cancel`` (or a workflow rule's): ``on_new_commit`` and ``on_job_failure``."""
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('auto_cancel')} must be a mapping with on_new_commit and/or "
                             f"on_job_failure, not {describe(value)}")
        return None
    ok = check_keys(value, AUTO_CANCEL_KEYS, (), f"{where}: {quote('auto_cancel')}", problems)
    result: dict[str, str] = {}
    for key, allowed in (("on_new_commit", ON_NEW_COMMIT), ("on_job_failure", ON_JOB_FAILURE)):
        if key in value:
            chosen = values.one_of(value[key], value.key_line(key), where, f"auto_cancel: {key}", allowed, problems)
            if chosen is None:
                ok = False
            else:
                result[key] = chosen
    return result if ok else None


def parse_rules(
    value: Any, line: int, where: str, problems: Problems, *, workflow: bool = False
) -> tuple[Rule, ...] | None:
    items = mapping_items(value, line, where, "rules", problems)
    if items is None:
        return None
    keys, later = (WORKFLOW_RULE_KEYS, ()) if workflow else (RULE_KEYS, RULE_LATER)
    allowed_when = ("always", "never") if workflow else JOB_WHEN
    rules: list[Rule] = []
    ok = True
    for rule, rule_line in items:
        ok = check_keys(rule, keys, later, f"{where}: rule", problems) and ok
        if not rule:
            problems.error(rule_line, f"{where}: a rule needs at least one of if, changes, exists, when")
            ok = False
            continue
        parsed = parse_rule(rule, where, allowed_when, problems)
        if parsed is None:
            ok = False
        else:
            rules.append(parsed)
    return tuple(rules) if ok else None


def parse_rule(rule: LMap, where: str, allowed_when: tuple[str, ...], problems: Problems) -> Rule | None:
    fields = values.KeyReader(rule)
    read, found = fields.read, fields.found
    read("if", lambda v, ln: expression(v, ln, where, "rules: if", problems))
    read("changes", lambda v, ln: changes(v, ln, where, problems))
    read("exists", lambda v, ln: globs(v, ln, where, "rules: exists", problems))
    read("when", lambda v, ln: values.one_of(v, ln, where, "rules: when", allowed_when, problems))
    read("allow_failure", lambda v, ln: values.boolean(v, ln, where, "rules: allow_failure", problems))
    read("variables", lambda v, ln: values.variables(v, ln, where, problems))
    read("start_in", lambda v, ln: values.duration(v, ln, where, "rules: start_in", problems, maximum=MAX_START_IN))
    read("needs", lambda v, ln: parse_needs(v, ln, where, problems, what="rules: needs"))
    read("interruptible", lambda v, ln: values.boolean(v, ln, where, "rules: interruptible", problems))
    read("auto_cancel", lambda v, ln: auto_cancel(v, ln, where, problems))
    if not fields.ok:
        return None
    when = found.get("when")
    start_in = found["start_in"][0] if "start_in" in found else None
    if when == "delayed" and start_in is None:
        problems.error(rule.key_line("when"), f"{where}: a rule with {quote('when: delayed')} needs "
                                              f"{quote('start_in')}")
        return None
    if start_in is not None and when != "delayed":
        problems.error(rule.key_line("start_in"), f"{where}: {quote('rules: start_in')} is only allowed with "
                                                  f"{quote('when: delayed')} in the same rule")
        return None
    return Rule(
        if_expr=found.get("if"),
        changes=found["changes"][0] if "changes" in found else None,
        compare_to=found["changes"][1] if "changes" in found else None,
        exists=found.get("exists"),
        when=when,
        allow_failure=found.get("allow_failure"),
        variables=found.get("variables") or {},
        needs=found.get("needs"),
        interruptible=found.get("interruptible"),
        start_in=start_in,
        auto_cancel=found.get("auto_cancel"),
    )


def _ref_patterns(refs: tuple[str, ...], line: int, where: str, problems: Problems) -> bool:
    ok = True
    for ref in refs:
        pattern = ref.split("@", 1)[0]
        if len(pattern) > 1 and pattern.startswith("/"):
            try:
                compile_ref_pattern(pattern)
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
            checked = expression(text, value.key_line("variables"), where, f"{what}: variables", problems)
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


def need_matrix(
    value: Any, line: int, where: str, problems: Problems
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] | None:
    """``needs: [{job, parallel: {matrix: [{VAR: value or [values]}, ...]}}]``."""
    if not isinstance(value, LMap) or "matrix" not in value:
        problems.error(line, f"{where}: {quote('needs: parallel')} must be a mapping with {quote('matrix')}, "
                             f"not {describe(value)}")
        return None
    if not check_keys(value, ("matrix",), (), f"{where}: {quote('needs: parallel')}", problems):
        return None
    items = mapping_items(value["matrix"], value.key_line("matrix"), where, "needs: parallel: matrix", problems)
    if not items:
        if items is not None:
            problems.error(value.key_line("matrix"), f"{where}: {quote('needs: parallel: matrix')} is empty")
        return None
    entries = []
    for item, item_line in items:
        if not item:
            problems.error(item_line, f"{where}: an entry of {quote('needs: parallel: matrix')} is empty")
            return None
        entry = []
        for name, raw in item.items():
            listed = values.text_list(raw, item.key_line(name), where, f"needs: parallel: matrix: {name}", problems)
            if listed is None:
                return None
            entry.append((name, listed))
        entries.append(tuple(entry))
    return tuple(entries)


def parse_needs(
    value: Any, line: int, where: str, problems: Problems, *, what: str = "needs"
) -> tuple[Need, ...] | None:
    if not isinstance(value, LList):
        problems.error(line, f"{where}: {quote(what)} must be a list of jobs (or [] to start at once), "
                             f"not {describe(value)}")
        return None
    needs: list[Need] = []
    ok = True
    seen: set[tuple[str, Any]] = set()
    for item, item_line in values.flatten(value, line, where, quote(what), problems):
        name: Any = item
        optional, artifacts, matrix = False, True, None
        if isinstance(item, LMap):
            ok = check_keys(item, NEED_KEYS, NEED_LATER, f"{where}: {quote(what)}", problems) and ok
            name = item.get("job")
            if "optional" in item:
                flag = values.boolean(item["optional"], item.key_line("optional"), where, f"{what}: optional",
                                      problems)
                optional = bool(flag)
                ok = ok and flag is not None
            if "artifacts" in item:
                flag = values.boolean(item["artifacts"], item.key_line("artifacts"), where, f"{what}: artifacts",
                                      problems)
                artifacts = flag is not False
                ok = ok and flag is not None
            if "parallel" in item:
                matrix = need_matrix(item["parallel"], item.key_line("parallel"), where, problems)
                ok = ok and matrix is not None
        if not isinstance(name, str) or not name:
            problems.error(item_line, f"{where}: each entry of {quote(what)} must be a job name or "
                                      f"{{job: name, optional: true}}, not {describe(item)}")
            ok = False
            continue
        if (name, matrix) in seen:
            continue
        seen.add((name, matrix))
        needs.append(Need(name, optional, artifacts, matrix, item_line))
    if len(needs) > MAX_NEEDS:
        problems.error(line, f"{where}: {quote(what)} lists {len(needs)} jobs; at most {MAX_NEEDS} are allowed")
        ok = False
    return tuple(needs) if ok else None
