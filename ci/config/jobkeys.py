"""Reading the job keywords of GitLab's pipeline files that shape how a job runs rather than what it runs:
``parallel`` (with ``matrix``), ``retry``, ``environment``, ``coverage`` and ``inherit``."""

from __future__ import annotations

import itertools
import re
from typing import Any

from ci.config import values
from ci.config.expressions import ExpressionError, compile_pattern
from ci.config.problems import Problems, quote
from ci.config.spec import Environment, Inherit, Parallel, Retry
from ci.config.values import check_keys, describe, mapping_items
from ci.config.yamlfile import LList, LMap

MAX_PARALLEL = 200  # GitLab's limit, for parallel: N and for the instances a matrix makes
MAX_RETRY = 2
RETRY_KEYS = ("max", "when", "exit_codes")
RETRY_WHEN = (
    "always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
    "runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure",
    "unmet_prerequisites", "scheduler_failure", "data_integrity_failure",
    # Newer GitLab reason (used by GitLab's own projects): a service the job depends on failed.
    "runner_external_dependency_failure",
)
ENVIRONMENT_KEYS = ("name", "url", "action", "on_stop", "deployment_tier", "auto_stop_in")
ENVIRONMENT_IGNORED = ("kubernetes",)
ENVIRONMENT_ACTIONS = ("start", "prepare", "stop", "verify", "access")
DEPLOYMENT_TIERS = ("production", "staging", "testing", "development", "other")
# GitLab: letters, digits, spaces and - _ / $ { } . in environment names (variables expand later).
ENVIRONMENT_NAME_RE = re.compile(r"[A-Za-z0-9 \-_/${}.]+")
MAX_ENVIRONMENT_NAME = 255
INHERIT_KEYS = ("default", "variables")
VARIABLE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parallel(value: Any, line: int, where: str, problems: Problems) -> Parallel | None:
    """``parallel: N`` (1 to 200) or ``parallel: {matrix: [{VAR: value or [values]}, ...]}``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_PARALLEL:
            problems.error(line, f"{where}: {quote('parallel')} must be from 1 to {MAX_PARALLEL}, not {value}")
            return None
        return Parallel(total=value)
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('parallel')} must be a number of instances (1 to {MAX_PARALLEL}) or "
                             f"{{matrix: [...]}}, not {describe(value)}")
        return None
    if not check_keys(value, ("matrix",), (), f"{where}: {quote('parallel')}", problems):
        return None
    if "matrix" not in value:
        problems.error(value.line, f"{where}: {quote('parallel')} as a mapping needs {quote('matrix')}")
        return None
    matrix_line = value.key_line("matrix")
    items = mapping_items(value["matrix"], matrix_line, where, "parallel: matrix", problems)
    if items is None:
        return None
    if not items:
        problems.error(matrix_line, f"{where}: {quote('parallel: matrix')} is empty")
        return None
    instances: list[tuple[tuple[str, str], ...]] = []
    ok = True
    for item, item_line in items:
        if not item:
            problems.error(item_line, f"{where}: an entry of {quote('parallel: matrix')} is empty")
            ok = False
            continue
        axes: list[list[tuple[str, str]]] = []
        for name, raw in item.items():
            name_line = item.key_line(name)
            if not VARIABLE_NAME_RE.fullmatch(name):
                problems.error(name_line, f"{where}: {quote(name)} is not a usable variable name in "
                                          f"{quote('parallel: matrix')}")
                ok = False
                continue
            listed = values.text_list(raw, name_line, where, f"parallel: matrix: {name}", problems)
            if listed is None:
                ok = False
                continue
            if not listed:
                problems.error(name_line, f"{where}: {quote('parallel: matrix: ' + name)} has no values")
                ok = False
                continue
            axes.append([(name, v) for v in listed])
        if ok:
            instances.extend(tuple(combo) for combo in itertools.product(*axes))
        if len(instances) > MAX_PARALLEL:
            problems.error(matrix_line, f"{where}: {quote('parallel: matrix')} makes more than {MAX_PARALLEL} jobs")
            return None
    if not ok:
        return None
    return Parallel(total=len(instances), matrix=tuple(instances))


def retry(value: Any, line: int, where: str, problems: Problems) -> Retry | None:
    """``retry: 0..2`` or ``{max, when, exit_codes}``."""
    if isinstance(value, LMap):
        known = check_keys(value, RETRY_KEYS, (), f"{where}: {quote('retry')}", problems)
        count = _retry_max(value["max"], value.key_line("max"), where, problems) if "max" in value else 0
        when: tuple[str, ...] | None = ("always",)
        if "when" in value:
            when = values.text_list(value["when"], value.key_line("when"), where, "retry: when", problems)
            for reason in when or ():
                if reason not in RETRY_WHEN:
                    problems.error(value.key_line("when"), f"{where}: {quote(reason)} is not a "
                                                           f"{quote('retry: when')} reason (known: "
                                                           f"{', '.join(RETRY_WHEN)})")
                    when = None
                    break
        codes: tuple[int, ...] | None = ()
        if "exit_codes" in value:
            codes = _exit_codes(value["exit_codes"], value.key_line("exit_codes"), where, problems)
        if not known or count is None or when is None or codes is None:
            return None
        return Retry(count, when, codes)
    count = _retry_max(value, line, where, problems)
    return Retry(count) if count is not None else None


def _retry_max(value: Any, line: int, where: str, problems: Problems) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RETRY:
        return value
    problems.error(line, f"{where}: {quote('retry')} must be 0, 1 or 2 (or {{max, when, exit_codes}}), "
                         f"not {describe(value)}")
    return None


def _exit_codes(
    value: Any, line: int, where: str, problems: Problems, what: str = "retry: exit_codes"
) -> tuple[int, ...] | None:
    items = values.flatten(value, line, where, quote(what), problems)
    codes = []
    for item, item_line in items:
        if not isinstance(item, int) or isinstance(item, bool):
            problems.error(item_line, f"{where}: {quote(what)} must be exit codes (numbers), not {describe(item)}")
            return None
        codes.append(item)
    return tuple(dict.fromkeys(codes))


def allow_failure(value: Any, line: int, where: str, problems: Problems) -> tuple[bool, tuple[int, ...]] | None:
    """``allow_failure: true/false`` or ``allow_failure: {exit_codes: 137 or [137, 255]}``: (allowed, codes).

    With exit codes the job is not allowed to fail in general (GitLab): only a failure with one of the codes is
    a warning; ``ci.lifecycle`` reads the codes from the job's spec when it fails."""
    if isinstance(value, bool):
        return value, ()
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('allow_failure')} must be true, false or {{exit_codes: [...]}}, "
                             f"not {describe(value)}")
        return None
    if not check_keys(value, ("exit_codes",), (), f"{where}: {quote('allow_failure')}", problems):
        return None
    if "exit_codes" not in value:
        problems.error(value.line, f"{where}: {quote('allow_failure')} as a mapping needs {quote('exit_codes')}")
        return None
    codes = _exit_codes(value["exit_codes"], value.key_line("exit_codes"), where, problems,
                        "allow_failure: exit_codes")
    if codes is None:
        return None
    if not codes:
        problems.error(value.key_line("exit_codes"), f"{where}: {quote('allow_failure: exit_codes')} is empty")
        return None
    return False, codes


def environment(value: Any, line: int, where: str, problems: Problems) -> Environment | None:
    """``environment: name`` or ``{name, url, action, on_stop, deployment_tier, auto_stop_in}``."""
    if isinstance(value, str):
        return Environment(value) if _environment_name(value, line, where, problems) else None
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('environment')} must be a name or {{name, url, action...}}, "
                             f"not {describe(value)}")
        return None
    ok = check_keys(value, ENVIRONMENT_KEYS, (), f"{where}: {quote('environment')}", problems,
                    ignored=ENVIRONMENT_IGNORED)
    name = value.get("name")
    if "name" not in value:
        problems.error(line, f"{where}: {quote('environment')} needs a {quote('name')}")
        return None
    if not isinstance(name, str) or not _environment_name(name, value.key_line("name"), where, problems):
        if not isinstance(name, str):
            problems.error(value.key_line("name"), f"{where}: {quote('environment: name')} must be text, "
                                                   f"not {describe(name)}")
        return None
    found: dict[str, Any] = {}
    for key, reader in (
        ("url", lambda v, ln: _url(v, ln, where, problems)),
        ("action", lambda v, ln: values.one_of(v, ln, where, "environment: action", ENVIRONMENT_ACTIONS, problems)),
        ("on_stop", lambda v, ln: values.text(v, ln, where, "environment: on_stop", problems)),
        ("deployment_tier", lambda v, ln: values.one_of(v, ln, where, "environment: deployment_tier",
                                                        DEPLOYMENT_TIERS, problems)),
        ("auto_stop_in", lambda v, ln: values.duration(v, ln, where, "environment: auto_stop_in", problems,
                                                       never=True)),
    ):
        if key in value:
            parsed = reader(value[key], value.key_line(key))
            if parsed is None:
                ok = False
            else:
                found[key] = parsed
    if not ok:
        return None
    auto_stop = found.get("auto_stop_in")
    return Environment(
        name=name,
        url=found.get("url", ""),
        action=found.get("action", "start"),
        on_stop=found.get("on_stop", ""),
        deployment_tier=found.get("deployment_tier", ""),
        auto_stop_in=auto_stop[0] if auto_stop is not None else None,
    )


def _environment_name(name: str, line: int, where: str, problems: Problems) -> bool:
    if not name.strip() or len(name) > MAX_ENVIRONMENT_NAME or not ENVIRONMENT_NAME_RE.fullmatch(name):
        problems.error(line, f"{where}: the environment name {quote(name[:60])} must be 1 to {MAX_ENVIRONMENT_NAME} "
                             "letters, digits, spaces and - _ / $ { } .")
        return False
    return True


def _url(value: Any, line: int, where: str, problems: Problems) -> str | None:
    url = values.text(value, line, where, "environment: url", problems)
    if url is None:
        return None
    # A URL built from variables ($CI_ENVIRONMENT_SLUG.example.com) can only be checked once expanded.
    if "$" not in url and not re.match(r"https?://[^\s/]", url):
        problems.error(line, f"{where}: {quote('environment: url')} must be an http:// or https:// address, "
                             f"not {quote(url)}")
        return None
    return url


def coverage(value: Any, line: int, where: str, problems: Problems) -> str | None:
    """``coverage: /regex/``: the body (RE2, as GitLab) between the slashes."""
    if not isinstance(value, str) or len(value) < 3 or not value.startswith("/") or not value.endswith("/"):
        problems.error(line, f"{where}: {quote('coverage')} must be a regular expression between slashes, such as "
                             f"/TOTAL.+ (\\d+%)/, not {describe(value)}")
        return None
    try:
        compile_pattern(value)
    except ExpressionError as exc:
        problems.error(line, f"{where}: {quote('coverage')}: {exc}")
        return None
    return value[1:-1]


def inherit(value: Any, line: int, where: str, default_keys: tuple[str, ...], problems: Problems) -> Inherit | None:
    """``inherit: {default: true|false|[keywords], variables: true|false|[names]}``."""
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('inherit')} must be a mapping with default and/or variables, "
                             f"not {describe(value)}")
        return None
    ok = check_keys(value, INHERIT_KEYS, (), f"{where}: {quote('inherit')}", problems)
    chosen: dict[str, frozenset[str] | None] = {"default": None, "variables": None}
    for key in INHERIT_KEYS:
        if key not in value:
            continue
        raw, key_line = value[key], value.key_line(key)
        if isinstance(raw, bool):
            chosen[key] = None if raw else frozenset()
            continue
        if not isinstance(raw, LList):
            problems.error(key_line, f"{where}: {quote('inherit: ' + key)} must be true, false or a list, "
                                     f"not {describe(raw)}")
            ok = False
            continue
        listed = values.text_list(raw, key_line, where, f"inherit: {key}", problems)
        if listed is None:
            ok = False
            continue
        if key == "default":
            unknown = [k for k in listed if k not in default_keys]
            if unknown:
                problems.error(key_line, f"{where}: {quote('inherit: default')} lists {quote(unknown[0])}, which "
                                         f"is not a default keyword (known: {', '.join(default_keys)})")
                ok = False
                continue
        chosen[key] = frozenset(listed)
    return Inherit(chosen["default"], chosen["variables"]) if ok else None
