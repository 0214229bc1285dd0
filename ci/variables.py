"""Predefined CI variables (the GitLab names a pipeline file relies on) and the job's variable list.

Pipeline-level variables are known before the pipeline exists and are what ``rules``/``workflow`` see; job-level
ones (``CI_JOB_*``, ``CI_PIPELINE_ID``) are added when the job row exists. The job token is not known until a
runner takes the job: the stored list carries ``CI_JOB_TOKEN`` with an empty value and the dispatcher fills it in
with ``with_job_token`` when it hands the job out (docs/ci.md, "Job payload").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ci.config.envnames import environment_slug, environment_tier, environment_variables
from forge.git.repository import CommitInfo
from forge.repos.services import RepoRef

__all__ = [
    "JOB_TOKEN_KEY", "MERGE_REQUEST_SOURCE", "PULL_REF_KIND", "MergeRequestFacts", "PipelineFacts",
    "environment_slug", "environment_tier", "environment_variables", "job_variables", "merge_request_variables",
    "pipeline_variables", "timestamp", "valid_name", "variable_list", "with_job_token",
]

JOB_TOKEN_KEY = "CI_JOB_TOKEN"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 255
MAX_VALUE = 10_000
# A merge request pipeline (issue 6): its source, and the ``ref_kind`` of its pipeline row. Its ``ref`` is the pull
# request's head branch name, which is not a branch of the pipeline's repository when the pull request comes from a
# fork; so neither CI_COMMIT_BRANCH nor CI_COMMIT_TAG is set (as in GitLab), the ref never counts as protected, and
# nothing that looks pipelines up by branch (caches, redundant pipelines, coverage) mixes it with branch pipelines.
MERGE_REQUEST_SOURCE = "merge_request_event"
PULL_REF_KIND = "pull"
# GitLab cuts CI_MERGE_REQUEST_DESCRIPTION at 2,700 characters and says so in _IS_TRUNCATED.
MAX_DESCRIPTION = 2700


@dataclass(frozen=True)
class PipelineFacts:
    """What the pipeline-level variables are made from."""

    ref: RepoRef
    ref_name: str
    ref_kind: str  # branch / tag / pull (a merge request pipeline)
    commit: CommitInfo
    before_sha: str
    source: str  # push / web / api
    server_url: str
    protected: bool = False  # the ref is a protected branch (CI_COMMIT_REF_PROTECTED)
    created_at: datetime | None = None  # the pipeline's creation time (CI_PIPELINE_CREATED_AT)


def timestamp(moment: datetime) -> str:
    """GitLab's format for predefined times: ISO 8601 in UTC, whole seconds, ``Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _slug(name: str) -> str:
    # GitLab's CI_COMMIT_REF_SLUG: lower case, [a-z0-9-] only, at most 63 characters, no "-" at the ends.
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())[:63]
    return slug.strip("-")


def _description(message: str, title: str) -> str:
    # GitLab: the message without its title line when the title is shorter than 100 characters, else all of it.
    if len(title) < 100:
        return message.split("\n", 1)[1].lstrip("\n") if "\n" in message else ""
    return message


def _server_parts(server_url: str) -> dict[str, str]:
    """CI_SERVER_HOST, _PORT, _PROTOCOL and _FQDN of the forge's public address."""
    parts = urlsplit(server_url)
    protocol = parts.scheme or "http"
    port = parts.port or (443 if protocol == "https" else 80)
    host = parts.hostname or ""
    default = port == (443 if protocol == "https" else 80)
    return {"CI_SERVER_HOST": host, "CI_SERVER_PORT": str(port), "CI_SERVER_PROTOCOL": protocol,
            "CI_SERVER_FQDN": host if default else f"{host}:{port}"}


def pipeline_variables(facts: PipelineFacts) -> dict[str, str]:
    owner, repo = facts.ref.owner.name, facts.ref.repo.name
    title = facts.commit.message.split("\n", 1)[0]
    values = {
        "CI": "true",
        "FORGE_CI": "true",
        "CI_COMMIT_SHA": facts.commit.sha,
        "CI_COMMIT_SHORT_SHA": facts.commit.sha[:8],
        "CI_COMMIT_BEFORE_SHA": facts.before_sha or "0" * 40,
        "CI_COMMIT_REF_NAME": facts.ref_name,
        "CI_COMMIT_REF_SLUG": _slug(facts.ref_name),
        "CI_COMMIT_MESSAGE": facts.commit.message,
        "CI_COMMIT_TITLE": title,
        "CI_COMMIT_AUTHOR": f"{facts.commit.author.name} <{facts.commit.author.email}>",
        "CI_COMMIT_TIMESTAMP": facts.commit.committer.when.isoformat(),
        "CI_DEFAULT_BRANCH": facts.ref.repo.default_branch,
        "CI_PIPELINE_SOURCE": facts.source,
        "CI_PROJECT_NAME": repo,
        "CI_PROJECT_PATH": f"{owner}/{repo}",
        "CI_PROJECT_NAMESPACE": owner,
        "CI_PROJECT_DIR": f"/builds/{owner}/{repo}",
        "CI_PROJECT_URL": f"{facts.server_url}/{owner}/{repo}",
        "CI_PROJECT_VISIBILITY": "private" if facts.ref.repo.is_private else "public",
        "CI_SERVER_URL": facts.server_url,
        "CI_COMMIT_REF_PROTECTED": "true" if facts.protected else "false",
        # More of GitLab's predefined names that real files test in rules and scripts (``$GITLAB_CI`` to detect
        # CI, ``$CI_SERVER_HOST`` to tell the canonical instance from others, ``$CI_PROJECT_ID`` in paths).
        "GITLAB_CI": "true",
        "CI_SERVER": "yes",
        "CI_PROJECT_ID": str(facts.ref.repo.id or ""),
        "CI_PROJECT_TITLE": repo,
        "CI_PROJECT_PATH_SLUG": _slug(f"{owner}/{repo}"),
        "CI_PROJECT_ROOT_NAMESPACE": owner,
        "CI_COMMIT_DESCRIPTION": _description(facts.commit.message, title),
        **_server_parts(facts.server_url),
    }
    if facts.created_at is not None:
        values["CI_PIPELINE_CREATED_AT"] = timestamp(facts.created_at)
    # At most one of the two is set, so `$CI_COMMIT_BRANCH` / `$CI_COMMIT_TAG` in rules tell the kinds apart; a
    # merge request pipeline has neither (GitLab's semantics: `only: [branches]`, the default, leaves its jobs out).
    if facts.ref_kind == "tag":
        values["CI_COMMIT_TAG"] = facts.ref_name
    elif facts.ref_kind == "branch":
        values["CI_COMMIT_BRANCH"] = facts.ref_name
    return values


@dataclass(frozen=True)
class MergeRequestFacts:
    """What the CI_MERGE_REQUEST_* variables of a merge request pipeline are made from (GitLab's names; the
    forge's "merge request" is a pull request, its IID the pull request's number)."""

    id: int  # the pull request row's id, unique on the instance
    number: int
    title: str
    description: str
    project_id: int  # the base repository, where the pipeline runs
    project_path: str
    source_project_id: int | None  # the head repository; None when it was deleted
    source_project_path: str
    source_branch: str
    source_sha: str
    source_protected: bool
    target_branch: str
    target_sha: str
    target_protected: bool
    diff_base_sha: str
    draft: bool
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()  # user names
    milestone: str = ""


def merge_request_variables(facts: MergeRequestFacts, server_url: str) -> dict[str, str]:
    """The CI_MERGE_REQUEST_* variables (docs.gitlab.com/ci/variables/predefined_variables, "merge request
    pipelines"); ``CI_MERGE_REQUEST_EVENT_TYPE`` is always "detached": the pipeline runs on the head commit, not
    on a merged result."""
    description = facts.description
    truncated = len(description) > MAX_DESCRIPTION
    values = {
        "CI_MERGE_REQUEST_ID": str(facts.id),
        "CI_MERGE_REQUEST_IID": str(facts.number),
        "CI_MERGE_REQUEST_TITLE": facts.title,
        "CI_MERGE_REQUEST_DESCRIPTION": description[:MAX_DESCRIPTION],
        "CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED": "true" if truncated else "false",
        "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
        "CI_MERGE_REQUEST_REF_PATH": f"refs/pull/{facts.number}/head",
        "CI_MERGE_REQUEST_PROJECT_ID": str(facts.project_id),
        "CI_MERGE_REQUEST_PROJECT_PATH": facts.project_path,
        "CI_MERGE_REQUEST_PROJECT_URL": f"{server_url}/{facts.project_path}",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": str(facts.source_project_id or ""),
        "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH": facts.source_project_path,
        "CI_MERGE_REQUEST_SOURCE_PROJECT_URL": (f"{server_url}/{facts.source_project_path}"
                                                if facts.source_project_path else ""),
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": facts.source_branch,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": facts.source_sha,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_PROTECTED": "true" if facts.source_protected else "false",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": facts.target_branch,
        "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": facts.target_sha,
        "CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED": "true" if facts.target_protected else "false",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": facts.diff_base_sha,
        "CI_MERGE_REQUEST_DRAFT": "true" if facts.draft else "false",
    }
    # GitLab leaves these out when there is nothing to list, so `$CI_MERGE_REQUEST_LABELS` tests as false.
    if facts.labels:
        values["CI_MERGE_REQUEST_LABELS"] = ",".join(facts.labels)
    if facts.assignees:
        values["CI_MERGE_REQUEST_ASSIGNEES"] = ",".join(facts.assignees)
    if facts.milestone:
        values["CI_MERGE_REQUEST_MILESTONE"] = facts.milestone
    return values


def job_variables(server_url: str, project_path: str, pipeline_id: int, job_id: int, name: str,
                  stage: str) -> dict[str, str]:
    return {
        "CI_PIPELINE_ID": str(pipeline_id),
        "CI_PIPELINE_URL": f"{server_url}/{project_path}/-/pipelines/{pipeline_id}",
        "CI_JOB_ID": str(job_id),
        "CI_JOB_NAME": name,
        # GitLab's CI_JOB_NAME_SLUG: like the ref slug (lower case, a-z 0-9 and "-", at most 63 characters).
        "CI_JOB_NAME_SLUG": _slug(name),
        "CI_JOB_STAGE": stage,
        "CI_JOB_URL": f"{server_url}/{project_path}/-/jobs/{job_id}",
    }


def variable_list(*layers: dict[str, str], masked: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The job's ``variables`` as the runner receives them; later layers win over earlier ones (the file's, then
    the predefined ones, then those given to "Run pipeline": the order ``ci.config.plan`` evaluates rules in).
    ``CI_JOB_TOKEN`` comes last, masked and empty until the dispatcher fills it in."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    merged.pop(JOB_TOKEN_KEY, None)
    result = [{"key": k, "value": v, "masked": k in masked} for k, v in merged.items()]
    result.append({"key": JOB_TOKEN_KEY, "value": "", "masked": True})
    return result


def with_job_token(variables: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    """A copy of the stored list with ``CI_JOB_TOKEN`` set to ``token`` (added when missing); for the dispatcher."""
    result = [dict(v) for v in variables if v.get("key") != JOB_TOKEN_KEY]
    result.append({"key": JOB_TOKEN_KEY, "value": token, "masked": True})
    return result


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name)) and len(name) <= MAX_NAME
