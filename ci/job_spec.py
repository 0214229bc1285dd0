"""The stored part of a job's payload: what a planned job (ci.config) becomes when its pipeline is created.

Written once, by ``ci.pipelines.create_pipeline``, into ``Job.spec`` (docs/ci.md, "Stored job spec"); names and
variables are expanded here, against the pipeline's variables at creation. The dispatcher (``ci.job_payload``)
adds the clone URL, sha and ref when the job is handed out.
"""

from __future__ import annotations

from typing import Any

from ci import config as ci_config
from ci import variables
from ci.config.spec import Artifacts, Cache, Environment, PlannedJob, Service
from ci.job_payload import DEFAULT_GIT_DEPTH, DEFAULT_TIMEOUT
from ci.models import Job, Pipeline


def stored_spec(p: PlannedJob, job: Job, pipeline: Pipeline, server_url: str, project_path: str,
          predefined: dict[str, str], run_variables: dict[str, str]) -> dict[str, Any]:
    """The job payload's stored part (docs/ci.md, "Stored job spec"); the dispatcher adds the rest."""
    assert job.id is not None and pipeline.id is not None
    job_level = variables.job_variables(server_url, project_path, pipeline.id, job.id, job.name, job.stage)
    # The pipeline's own variables win over the file's, as they did when its rules were evaluated.
    known = {**p.variables, **predefined, **job_level, **run_variables}
    final = ci_config.finalize(p, known)
    environment_vars = variables.environment_variables(final.environment)
    image = None
    if p.image is not None:
        image = {"name": p.image.name,
                 "entrypoint": list(p.image.entrypoint) if p.image.entrypoint is not None else None}
    return {
        "image": image,
        "before_script": list(p.before_script),
        "script": list(p.script),
        "after_script": list(p.after_script),
        "variables": variables.variable_list(p.variables, predefined, job_level, environment_vars, run_variables),
        "timeout": p.timeout_seconds or DEFAULT_TIMEOUT,
        # The clone URL, sha and ref come from the pipeline and repository when the job is handed out, so a
        # repository renamed meanwhile is still found.
        "git_depth": DEFAULT_GIT_DEPTH,
        # CI delivery (the contract of docs/ci.md, "Job spec"): always present, names expanded.
        "services": [_service_spec(s, known) for s in final.services],
        "artifacts": _artifacts_spec(final.artifacts),
        "cache": [_cache_spec(c) for c in final.cache],
        "artifact_sources": list(final.artifact_sources),
        "coverage": final.coverage,
        "retry": {"max": final.retry.max, "when": list(final.retry.when), "exit_codes": list(final.retry.exit_codes)},
        # allow_failure: {exit_codes}: a failure with one of these codes counts as allowed (ci.lifecycle).
        "allow_failure_exit_codes": list(final.allow_failure_exit_codes),
        "environment": _environment_spec(final.environment),
        "start_in": final.start_in,
        "parallel": {"index": final.parallel[0], "total": final.parallel[1]} if final.parallel else None,
        "interruptible": final.interruptible,
        "resource_group": final.resource_group,
        "manual_confirmation": final.manual_confirmation,
    }


def _service_spec(service: Service, known: dict[str, str]) -> dict[str, Any]:
    return {
        "name": service.name,
        "alias": list(service.alias),
        "command": list(service.command) if service.command is not None else None,
        "entrypoint": list(service.entrypoint) if service.entrypoint is not None else None,
        "variables": [{"key": k, "value": ci_config.substitute(v, known)} for k, v in service.variables.items()],
    }


def _artifacts_spec(artifacts: Artifacts | None) -> dict[str, Any] | None:
    if artifacts is None:
        return None
    return {
        "name": artifacts.name,
        "paths": list(artifacts.paths),
        "exclude": list(artifacts.exclude),
        "untracked": artifacts.untracked,
        "when": artifacts.when,
        # "never" keeps them (GitLab); None leaves it to the instance default (FORGE_CI_ARTIFACTS_EXPIRE_DAYS).
        "expire_in": "never" if artifacts.expire_never else artifacts.expire_in,
        "expose_as": artifacts.expose_as,
        "reports": {"junit": list(artifacts.junit)},
    }


def _cache_spec(cache: Cache) -> dict[str, Any]:
    return {
        "key": cache.key or "default",
        "paths": list(cache.paths),
        "untracked": cache.untracked,
        "policy": cache.policy,
        "when": cache.when,
        "fallback_keys": list(cache.fallback_keys),
        "unprotect": cache.unprotect,
    }


def _environment_spec(environment: Environment | None) -> dict[str, Any] | None:
    if environment is None:
        return None
    return {
        "name": environment.name,
        "url": environment.url,
        "action": environment.action,
        "on_stop": environment.on_stop,
        "deployment_tier": environment.deployment_tier,
        "auto_stop_in": environment.auto_stop_in,
    }
