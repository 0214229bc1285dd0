"""Reading the keywords that move files and containers around a job: ``services``, ``artifacts`` and ``cache``.

The forms are GitLab's (``docs.gitlab.com/ci/yaml``); what the runner does with them is in docs/ci.md. Values
that may hold ``$VAR`` (service names, the artifacts name, cache keys) are kept as written here and expanded
once the job's variables are known (``ci.config.finalize``).
"""

from __future__ import annotations

from typing import Any

from ci.config import values
from ci.config.problems import Problems, quote
from ci.config.spec import Artifacts, Cache, Service
from ci.config.values import check_keys, describe
from ci.config.yamlfile import LList, LMap

SERVICE_KEYS = ("name", "alias", "command", "entrypoint", "variables", "pull_policy")
SERVICE_IGNORED = ("docker", "kubernetes")
PULL_POLICIES = ("always", "if-not-present", "never")

ARTIFACT_KEYS = ("paths", "exclude", "name", "when", "expire_in", "untracked", "expose_as", "reports", "public",
                 "access")
ARTIFACT_WHEN = ("on_success", "on_failure", "always")
ARTIFACT_ACCESS = ("all", "developer", "maintainer", "none")
USED_REPORTS = ("junit",)
# GitLab's other report types: accepted so real files load, but nothing here reads them (a warning says so).
OTHER_REPORTS = (
    "accessibility", "annotations", "api_fuzzing", "browser_performance", "cluster_image_scanning", "codequality",
    "container_scanning", "coverage_fuzzing", "coverage_report", "cyclonedx", "dast", "dependency_scanning",
    "dotenv", "license_scanning", "load_performance", "metrics", "performance", "repository_xray", "requirements",
    "requirements_v2", "sast", "secret_detection", "terraform",
)

CACHE_KEYS = ("key", "paths", "untracked", "policy", "when", "fallback_keys", "unprotect")
CACHE_KEY_KEYS = ("files", "prefix")
CACHE_POLICIES = ("pull-push", "pull", "push")
CACHE_WHEN = ("on_success", "on_failure", "always")
MAX_CACHES = 4
MAX_CACHE_KEY_FILES = 2
MAX_FALLBACK_KEYS = 5


# --- services ----------------------------------------------------------------------------------------------------


def services(value: Any, line: int, where: str, problems: Problems) -> tuple[Service, ...] | None:
    """``services:``: a list of image names or ``{name, alias, command, entrypoint, variables, pull_policy}``."""
    if not isinstance(value, LList):
        problems.error(line, f"{where}: {quote('services')} must be a list of images, not {describe(value)}")
        return None
    result: list[Service] = []
    ok = True
    for item, item_line in values.flatten(value, line, where, quote("services"), problems):
        service = _service(item, item_line, where, problems)
        if service is None:
            ok = False
        else:
            result.append(service)
    return tuple(result) if ok else None


def _service(item: Any, line: int, where: str, problems: Problems) -> Service | None:
    if isinstance(item, str):
        if not item.strip():
            problems.error(line, f"{where}: a service's image name is empty")
            return None
        return Service(item.strip())
    if not isinstance(item, LMap):
        problems.error(line, f"{where}: each entry of {quote('services')} must be an image name or "
                             f"{{name, alias, ...}}, not {describe(item)}")
        return None
    what = f"{where}: service"
    ok = check_keys(item, SERVICE_KEYS, (), what, problems, ignored=SERVICE_IGNORED)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.error(item.line, f"{where}: each service needs a {quote('name')} (its image)")
        return None
    alias: tuple[str, ...] = ()
    if "alias" in item:
        raw = values.text(item["alias"], item.key_line("alias"), where, "services: alias", problems)
        # GitLab: several aliases are written as one comma-separated text ("db,postgres").
        alias = tuple(part.strip() for part in raw.split(",") if part.strip()) if raw is not None else ()
        ok = ok and raw is not None
    command = entrypoint = None
    for key in ("command", "entrypoint"):
        if key in item:
            raw_list = item[key]
            if not isinstance(raw_list, LList):
                problems.error(item.key_line(key), f"{where}: {quote('services: ' + key)} must be a list such as "
                                                   "[\"--flag\", \"value\"], not " + describe(raw_list))
                ok = False
                continue
            parsed = values.text_list(raw_list, item.key_line(key), where, f"services: {key}", problems)
            ok = ok and parsed is not None
            if key == "command":
                command = parsed
            else:
                entrypoint = parsed
    service_vars: dict[str, str] | None = {}
    if "variables" in item:
        service_vars = values.variables(item["variables"], item.key_line("variables"), where, problems)
        ok = ok and service_vars is not None
    if "pull_policy" in item:
        ok = pull_policy(item["pull_policy"], item.key_line("pull_policy"), where, problems) and ok
    if not ok:
        return None
    return Service(name.strip(), alias, command, entrypoint, service_vars or {})


def pull_policy(value: Any, line: int, where: str, problems: Problems) -> bool:
    """Accepted for compatibility: the runner pulls an image only when it is missing (``if-not-present``)."""
    listed = values.text_list(value, line, where, "pull_policy", problems)
    if listed is None:
        return False
    bad = [p for p in listed if p not in PULL_POLICIES]
    if bad or not listed:
        problems.error(line, f"{where}: {quote('pull_policy')} must be {', '.join(PULL_POLICIES)} or a list of "
                             f"them, not {quote(', '.join(bad))}")
        return False
    return True


# --- artifacts ---------------------------------------------------------------------------------------------------


def artifacts(value: Any, line: int, where: str, problems: Problems) -> Artifacts | None:
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('artifacts')} must be a mapping (paths, name, when, expire_in, "
                             f"reports...), not {describe(value)}")
        return None
    ok = check_keys(value, ARTIFACT_KEYS, (), f"{where}: {quote('artifacts')}", problems)
    fields = values.KeyReader(value)
    read, found = fields.read, fields.found

    read("paths", lambda v, ln: values.text_list(v, ln, where, "artifacts: paths", problems))
    read("exclude", lambda v, ln: values.text_list(v, ln, where, "artifacts: exclude", problems))
    read("name", lambda v, ln: values.text(v, ln, where, "artifacts: name", problems, empty=True))
    read("when", lambda v, ln: values.one_of(v, ln, where, "artifacts: when", ARTIFACT_WHEN, problems))
    read("expire_in", lambda v, ln: values.duration(v, ln, where, "artifacts: expire_in", problems, never=True))
    read("untracked", lambda v, ln: values.boolean(v, ln, where, "artifacts: untracked", problems))
    read("expose_as", lambda v, ln: values.text(v, ln, where, "artifacts: expose_as", problems))
    read("reports", lambda v, ln: _reports(v, ln, where, problems))
    read("public", lambda v, ln: values.boolean(v, ln, where, "artifacts: public", problems))
    read("access", lambda v, ln: values.one_of(v, ln, where, "artifacts: access", ARTIFACT_ACCESS, problems))
    ok = ok and fields.ok
    if "expose_as" in found and not found.get("paths"):
        problems.error(value.key_line("expose_as"), f"{where}: {quote('artifacts: expose_as')} needs "
                                                    f"{quote('artifacts: paths')}")
        ok = False
    if not ok:
        return None
    expire = found.get("expire_in")
    return Artifacts(
        name=found.get("name", ""),
        paths=found.get("paths", ()),
        exclude=found.get("exclude", ()),
        untracked=found.get("untracked", False),
        when=found.get("when", "on_success"),
        expire_in=expire[0] if expire is not None else None,
        expire_never=expire is not None and expire[0] is None,
        expose_as=found.get("expose_as", ""),
        junit=found.get("reports", ()),
    )


def _reports(value: Any, line: int, where: str, problems: Problems) -> tuple[str, ...] | None:
    """``artifacts:reports``: the JUnit paths; other known types are accepted with a warning."""
    if not isinstance(value, LMap):
        problems.error(line, f"{where}: {quote('artifacts: reports')} must be a mapping such as "
                             f"{{junit: report.xml}}, not {describe(value)}")
        return None
    ok = True
    junit: tuple[str, ...] = ()
    for key in value:
        key_line = value.key_line(key)
        if key == "junit":
            listed = values.text_list(value[key], key_line, where, "artifacts: reports: junit", problems)
            ok = ok and listed is not None
            junit = listed or ()
        elif key in OTHER_REPORTS:
            problems.warn(key_line, f"{where}: {quote('artifacts: reports: ' + key)} is not used by this forge; "
                                    "the files are not uploaded as a report (list them in artifacts: paths to keep "
                                    "them)")
        else:
            problems.error(key_line, f"{where}: {quote(key)} is not a report type (known: junit, "
                                     f"{', '.join(OTHER_REPORTS)})")
            ok = False
    return junit if ok else None


# --- cache -------------------------------------------------------------------------------------------------------


def caches(value: Any, line: int, where: str, problems: Problems) -> tuple[Cache, ...] | None:
    """``cache:`` one mapping or a list of up to four (``cache: []`` turns an inherited cache off)."""
    items: list[tuple[Any, int]]
    if isinstance(value, LList):
        items = values.flatten(value, line, where, quote("cache"), problems)
        if len(items) > MAX_CACHES:
            problems.error(line, f"{where}: {quote('cache')} lists {len(items)} caches; at most {MAX_CACHES} are "
                                 "allowed")
            return None
    else:
        items = [(value, line)]
    result: list[Cache] = []
    ok = True
    for item, item_line in items:
        cache = _cache(item, item_line, where, problems)
        if cache is None:
            ok = False
        else:
            result.append(cache)
    return tuple(result) if ok else None


def bad_cache_key(key: str) -> str | None:
    """Why ``key`` cannot name a cache (GitLab's rule: no ``/``, not ``.`` or ``..``, also URL-encoded)."""
    lowered = key.lower()
    if "/" in key or "%2f" in lowered:
        return "it must not contain “/”"
    if lowered in (".", "..", "%2e", "%2e%2e", ".%2e", "%2e."):
        return "it must not be “.” or “..”"
    return None


def _cache(item: Any, line: int, where: str, problems: Problems) -> Cache | None:
    if not isinstance(item, LMap):
        problems.error(line, f"{where}: {quote('cache')} must be a mapping (key, paths, policy...) or a list of "
                             f"them, not {describe(item)}")
        return None
    ok = check_keys(item, CACHE_KEYS, (), f"{where}: {quote('cache')}", problems)
    fields = values.KeyReader(item)
    read, found = fields.read, fields.found

    read("paths", lambda v, ln: values.text_list(v, ln, where, "cache: paths", problems))
    read("untracked", lambda v, ln: values.boolean(v, ln, where, "cache: untracked", problems))
    read("policy", lambda v, ln: _policy(v, ln, where, problems))
    read("when", lambda v, ln: values.one_of(v, ln, where, "cache: when", CACHE_WHEN, problems))
    read("fallback_keys", lambda v, ln: values.text_list(v, ln, where, "cache: fallback_keys", problems))
    read("unprotect", lambda v, ln: values.boolean(v, ln, where, "cache: unprotect", problems))
    ok = ok and fields.ok
    key: str | None = "default"
    files: tuple[str, ...] = ()
    prefix = ""
    if "key" in item:
        parsed_key = _key(item["key"], item.key_line("key"), where, problems)
        if parsed_key is None:
            ok = False
        else:
            key, files, prefix = parsed_key
    fallback = found.get("fallback_keys", ())
    if len(fallback) > MAX_FALLBACK_KEYS:
        problems.error(item.key_line("fallback_keys"), f"{where}: {quote('cache: fallback_keys')} lists "
                                                       f"{len(fallback)} keys; at most {MAX_FALLBACK_KEYS} are allowed")
        ok = False
    for fallback_key in fallback:
        reason = bad_cache_key(fallback_key)
        if reason:
            problems.error(item.key_line("fallback_keys"), f"{where}: the cache fallback key {quote(fallback_key)} "
                                                           f"is not allowed: {reason}")
            ok = False
    if not ok:
        return None
    return Cache(
        key=key,
        key_files=files,
        key_prefix=prefix,
        paths=found.get("paths", ()),
        untracked=found.get("untracked", False),
        policy=found.get("policy", "pull-push"),
        when=found.get("when", "on_success"),
        fallback_keys=fallback,
        unprotect=found.get("unprotect", False),
    )


def _policy(value: Any, line: int, where: str, problems: Problems) -> str | None:
    # GitLab allows the policy to come from a variable ($CACHE_POLICY); it is checked once expanded.
    if isinstance(value, str) and value.startswith("$"):
        return value
    return values.one_of(value, line, where, "cache: policy", CACHE_POLICIES, problems)


def _key(value: Any, line: int, where: str, problems: Problems) -> tuple[str | None, tuple[str, ...], str] | None:
    """``cache:key``: a text (``(key, (), "")``) or ``{files: [1 or 2 paths], prefix}`` (``(None, files, prefix)``)."""
    if isinstance(value, LMap):
        if not check_keys(value, CACHE_KEY_KEYS, ("files_commits",), f"{where}: {quote('cache: key')}", problems):
            return None
        if "files" not in value:
            problems.error(value.line, f"{where}: {quote('cache: key')} as a mapping needs {quote('files')}")
            return None
        files = values.text_list(value["files"], value.key_line("files"), where, "cache: key: files", problems)
        if files is None:
            return None
        if not 1 <= len(files) <= MAX_CACHE_KEY_FILES:
            problems.error(value.key_line("files"), f"{where}: {quote('cache: key: files')} must list 1 or "
                                                    f"{MAX_CACHE_KEY_FILES} files")
            return None
        prefix = ""
        if "prefix" in value:
            raw = values.text(value["prefix"], value.key_line("prefix"), where, "cache: key: prefix", problems)
            if raw is None:
                return None
            reason = bad_cache_key(raw)
            if reason:
                problems.error(value.key_line("prefix"), f"{where}: the cache key prefix {quote(raw)} is not "
                                                         f"allowed: {reason}")
                return None
            prefix = raw
        return None, files, prefix
    key = values.text(value, line, where, "cache: key", problems)
    if key is None:
        return None
    reason = bad_cache_key(key)
    if reason:
        problems.error(line, f"{where}: the cache key {quote(key)} is not allowed: {reason}")
        return None
    return key, (), ""
