"""The job payload (``docs/ci.md``, "Job payload") in typed form: ``Job`` and its parts, read leniently from the
forge's JSON (unknown keys ignored, a missing key means the feature is unused; a wrong type is a ``ProtocolError``
naming the field)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from runners.errors import ProtocolError


@dataclass(frozen=True)
class JobImage:
    name: str
    entrypoint: tuple[str, ...] | None = None


@dataclass(frozen=True)
class JobVariable:
    key: str
    value: str
    masked: bool = False
    file: bool = False  # GitLab's file-type variable: the runner writes the value to a file and passes its path


@dataclass(frozen=True)
class JobService:
    """A ``services`` entry: a container started next to the job's, reachable by its aliases."""

    name: str  # the image
    aliases: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobArtifacts:
    """``artifacts``: what is archived and uploaded after the job's scripts."""

    name: str = ""
    paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    untracked: bool = False
    when: str = "on_success"  # on_success | on_failure | always
    expire_in: str = ""  # seconds as digits, "never" (kept until deleted), or "" for the forge's default
    junit: tuple[str, ...] = ()  # reports:junit patterns


@dataclass(frozen=True)
class JobCache:
    """One ``cache`` entry; ``key`` is final (the forge resolved ``key:files`` and expanded variables)."""

    key: str = "default"
    paths: tuple[str, ...] = ()
    untracked: bool = False
    policy: str = "pull-push"  # pull | push | pull-push
    when: str = "on_success"
    fallback_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobDependency:
    """The archive of an earlier job of the pipeline, downloaded into the checkout before the script."""

    job_id: int
    name: str
    filename: str = "artifacts.zip"
    size: int | None = None


@dataclass(frozen=True)
class JobGit:
    url: str  # the repository's smart HTTP URL, without credentials
    sha: str
    ref: str
    depth: int = 20  # 0 fetches the whole history


@dataclass(frozen=True)
class Job:
    id: int
    token: str
    name: str
    stage: str
    pipeline_id: int
    image: JobImage | None
    before_script: tuple[str, ...]
    script: tuple[str, ...]
    after_script: tuple[str, ...]
    variables: tuple[JobVariable, ...]
    timeout: int
    git: JobGit
    log_offset: int = 0
    services: tuple[JobService, ...] = ()
    artifacts: JobArtifacts | None = None
    cache: tuple[JobCache, ...] = ()
    dependencies: tuple[JobDependency, ...] = ()

    @classmethod
    def from_payload(cls, data: Any) -> Job:
        """The job in a ``jobs/request`` answer; ``ProtocolError`` names the first field that is wrong."""
        try:
            return _parse_job(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"The forge sent a job this runner cannot read ({exc}).") from None

    def variable(self, key: str) -> str | None:
        for var in self.variables:
            if var.key == key:
                return var.value
        return None

    def masked_values(self) -> list[str]:
        """Everything that must never reach the log: masked variables and the job token."""
        values = {var.value for var in self.variables if var.masked and var.value}
        values.add(self.token)
        return sorted(values)

    @property
    def project_path(self) -> str:
        """``owner/repo`` (``CI_PROJECT_PATH``, else the git URL's path), safe to use as a directory path."""
        path = self.variable("CI_PROJECT_PATH") or httpx.URL(self.git.url).path.removesuffix(".git")
        parts = [p for p in path.strip("/").split("/") if p]
        if parts and all(_SAFE_PART.fullmatch(p) and p not in (".", "..") for p in parts):
            return "/".join(parts)
        return f"job-{self.id}"


_SAFE_PART = re.compile(r"[A-Za-z0-9._-]+")


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} is not a list of strings")
    return tuple(value)


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is not an integer")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f"{name} is not true or false")
    return value


def _optional_strings(value: Any, name: str) -> tuple[str, ...] | None:
    return None if value is None else _strings(value, name)


def _parse_service(item: Any) -> JobService:
    if isinstance(item, str):  # the short form, should a forge send it
        return JobService(item)
    if not isinstance(item, dict):
        raise TypeError("services has an entry that is neither a name nor an object")
    alias = item.get("alias")
    if isinstance(alias, str):  # GitLab allows "a,b" in one string
        aliases = tuple(a.strip() for a in alias.split(",") if a.strip())
    else:
        aliases = _strings(alias, "services.alias")
    variables = []
    for var in item.get("variables") or []:
        if not isinstance(var, dict):
            raise TypeError("services.variables has an entry that is not an object")
        variables.append((_str(var["key"], "services.variables.key"), str(var.get("value", ""))))
    return JobService(
        name=_str(item["name"], "services.name"), aliases=aliases,
        command=_optional_strings(item.get("command"), "services.command"),
        entrypoint=_optional_strings(item.get("entrypoint"), "services.entrypoint"),
        variables=tuple(variables),
    )


def _optional_int(value: Any, name: str) -> int | None:
    return None if value is None or value == "" else _int(value, name)


def _expire_in(value: Any) -> str:
    """``artifacts.expire_in`` as the upload's query value: seconds, "never", or "" (the forge decides)."""
    if value is None or value == "":
        return ""
    if value == "never":
        return "never"
    return str(_int(value, "artifacts.expire_in"))


def _parse_artifacts(item: Any) -> JobArtifacts | None:
    if item is None:
        return None
    if not isinstance(item, dict):
        raise TypeError("artifacts is not an object")
    reports = item.get("reports") or {}
    if not isinstance(reports, dict):
        raise TypeError("artifacts.reports is not an object")
    return JobArtifacts(
        name=_str(item.get("name") or "", "artifacts.name"),
        paths=_strings(item.get("paths"), "artifacts.paths"),
        exclude=_strings(item.get("exclude"), "artifacts.exclude"),
        untracked=_bool(item.get("untracked"), "artifacts.untracked"),
        when=_str(item.get("when") or "on_success", "artifacts.when"),
        expire_in=_expire_in(item.get("expire_in")),
        junit=_strings(reports.get("junit"), "artifacts.reports.junit"),
    )


def _parse_cache(item: Any) -> JobCache:
    if not isinstance(item, dict):
        raise TypeError("cache has an entry that is not an object")
    return JobCache(
        key=_str(item.get("key") or "default", "cache.key"),
        paths=_strings(item.get("paths"), "cache.paths"),
        untracked=_bool(item.get("untracked"), "cache.untracked"),
        policy=_str(item.get("policy") or "pull-push", "cache.policy"),
        when=_str(item.get("when") or "on_success", "cache.when"),
        fallback_keys=_strings(item.get("fallback_keys"), "cache.fallback_keys"),
    )


def _parse_dependency(item: Any) -> JobDependency:
    if not isinstance(item, dict):
        raise TypeError("dependencies has an entry that is not an object")
    return JobDependency(
        job_id=_int(item["job_id"], "dependencies.job_id"),
        name=_str(item.get("name") or "", "dependencies.name"),
        filename=_str(item.get("filename") or "artifacts.zip", "dependencies.filename"),
        size=_optional_int(item.get("size"), "dependencies.size"),
    )


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{name} is not a list")
    return value


def _parse_job(data: Any) -> Job:
    if not isinstance(data, dict):
        raise TypeError("the job is not an object")
    image_data = data.get("image")
    image = None
    if isinstance(image_data, str):
        image = JobImage(image_data)
    elif isinstance(image_data, dict):
        entry = image_data.get("entrypoint")
        image = JobImage(_str(image_data["name"], "image.name"),
                         None if entry is None else _strings(entry, "image.entrypoint"))
    elif image_data is not None:
        raise TypeError("image is neither a name nor an object")
    variables = []
    for item in data.get("variables") or []:
        variables.append(JobVariable(_str(item["key"], "variables.key"), _str(item["value"], "variables.value"),
                                     bool(item.get("masked", False)), bool(item.get("file", False))))
    git = data["git"]
    cache_data = data.get("cache")
    if isinstance(cache_data, dict):  # one cache written without a list
        cache_data = [cache_data]
    return Job(
        id=_int(data["id"], "id"),
        token=_str(data["token"], "token"),
        name=_str(data.get("name", ""), "name"),
        stage=_str(data.get("stage", ""), "stage"),
        pipeline_id=_int(data.get("pipeline_id", 0), "pipeline_id"),
        image=image,
        before_script=_strings(data.get("before_script"), "before_script"),
        script=_strings(data.get("script"), "script"),
        after_script=_strings(data.get("after_script"), "after_script"),
        variables=tuple(variables),
        timeout=_int(data.get("timeout", 3600), "timeout"),
        git=JobGit(_str(git["url"], "git.url"), _str(git["sha"], "git.sha"), _str(git.get("ref", ""), "git.ref"),
                   _int(git.get("depth", 20), "git.depth")),
        log_offset=_int(data.get("log_offset", 0), "log_offset"),
        # CI delivery: a missing key means the job does not use the feature; unknown keys are ignored.
        services=tuple(_parse_service(s) for s in _list(data.get("services"), "services")),
        artifacts=_parse_artifacts(data.get("artifacts")),
        cache=tuple(_parse_cache(c) for c in _list(cache_data, "cache")),
        dependencies=tuple(_parse_dependency(d) for d in _list(data.get("dependencies"), "dependencies")),
    )
