"""The last step of planning, once a job's own predefined variables (``CI_JOB_ID``, ``CI_PIPELINE_ID``…) exist:
``$VAR`` in service names, the artifacts name, cache keys, the environment and the resource group.

Two rules, both GitLab's: values the server itself acts on (the environment's name and URL, the resource group)
expand an unknown variable to nothing, as GitLab's server does; values handed to the runner (service images,
cache keys, the artifacts name) keep an unknown ``$NAME`` as written, so a job never silently loses part of a name.
A cache key is a file name on the server, so once expanded it may not contain ``/`` or be ``.``/``..``: a ``/``
(from ``$CI_COMMIT_REF_NAME`` = ``feature/x``) becomes ``-`` and an empty key is ``default``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import ChainMap
from collections.abc import Mapping

from ci.config.delivery import CACHE_POLICIES, bad_cache_key
from ci.config.envnames import environment_tier, environment_variables
from ci.config.expand import REFERENCE_RE, substitute
from ci.config.jobkeys import ENVIRONMENT_NAME_RE, MAX_ENVIRONMENT_NAME
from ci.config.spec import Cache, Environment, PlannedJob, Service


def expand_strict(value: str, known: Mapping[str, str]) -> str:
    """``$NAME``/``${NAME}`` replaced, unknown names by nothing; ``$$`` is a ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$"
        return known.get(match.group(1) or match.group(2), "")

    return REFERENCE_RE.sub(replace, value)


def cache_key(raw: str, known: Mapping[str, str]) -> str:
    key = substitute(raw, known).replace("/", "-").strip()
    if not key or bad_cache_key(key):
        return "default"
    return key


def _cache(cache: Cache, known: Mapping[str, str]) -> Cache:
    policy = cache.policy
    if policy.startswith("$"):
        policy = substitute(policy, known)
        if policy not in CACHE_POLICIES:
            policy = "pull-push"  # GitLab's default when a variable names no policy
    fallback = tuple(dict.fromkeys(cache_key(k, known) for k in cache.fallback_keys))
    return dataclasses.replace(cache, key=cache_key(cache.key or "default", known), fallback_keys=fallback,
                               policy=policy)


def _environment(environment: Environment, known: Mapping[str, str]) -> Environment | None:
    name = " ".join(expand_strict(environment.name, known).split())
    if not name or len(name) > MAX_ENVIRONMENT_NAME or not ENVIRONMENT_NAME_RE.fullmatch(name):
        return None  # GitLab makes no deployment when the expanded name is unusable
    named = dataclasses.replace(environment, name=name, url="")
    # The URL may use the environment's own variables (https://$CI_ENVIRONMENT_SLUG.example.com).
    url = expand_strict(environment.url, ChainMap(environment_variables(named), dict(known))).strip()
    return dataclasses.replace(
        named, url=url, deployment_tier=environment_tier(name, environment.deployment_tier)
    )


def finalize(job: PlannedJob, variables: Mapping[str, str]) -> PlannedJob:
    """``job`` with its names expanded by ``variables`` (the job's complete set, in precedence order)."""
    services = tuple(
        Service(substitute(s.name, variables), tuple(substitute(a, variables) for a in s.alias), s.command,
                s.entrypoint, s.variables)
        for s in job.services
    )
    artifacts = job.artifacts
    if artifacts is not None and artifacts.name:
        artifacts = dataclasses.replace(artifacts, name=substitute(artifacts.name, variables))
    return dataclasses.replace(
        job,
        services=services,
        artifacts=artifacts,
        cache=tuple(_cache(c, variables) for c in job.cache),
        environment=_environment(job.environment, variables) if job.environment is not None else None,
        resource_group=expand_strict(job.resource_group, variables).strip(),
    )
