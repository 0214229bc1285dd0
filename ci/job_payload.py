"""What a runner receives for a job (docs/ci.md, "Job payload"): the stored spec, completed when the job is handed
out with what is only known then — the job token, the repository's clone URL, the repository's and organisation's
CI/CD variables, and the dependencies' archives (the newest attempt that has one)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ci import artifacts, project_variables
from ci.models import Job, Pipeline
from ci.variables import MERGE_REQUEST_SOURCE
from forge.errors import NotFound
from forge.i18n import N_
from forge.issues.models import Issue
from forge.pulls.models import PullRequest
from forge.repos.services import get_repo_by_id

Payload = dict[str, Any]
DEFAULT_TIMEOUT = 3600  # job timeout when the spec names none, seconds
DEFAULT_GIT_DEPTH = 20  # commits fetched for the checkout


def _image(value: object) -> dict[str, Any] | None:
    if isinstance(value, str) and value:
        return {"name": value, "entrypoint": None}
    if isinstance(value, dict) and value.get("name"):
        entrypoint = value.get("entrypoint")
        return {"name": str(value["name"]), "entrypoint": list(entrypoint) if entrypoint is not None else None}
    return None


def _variable(key: object, value: object, masked: object = False, file: object = False) -> dict[str, Any]:
    return {"key": str(key), "value": str(value), "masked": bool(masked), "file": bool(file)}


def _variables(value: object) -> list[dict[str, Any]]:
    if isinstance(value, dict):  # {"KEY": "value"} or {"KEY": {"value": ..., "masked": ...}}
        return [
            _variable(key, val.get("value", ""), val.get("masked"), val.get("file")) if isinstance(val, dict)
            else _variable(key, val)
            for key, val in value.items()
        ]
    if isinstance(value, list):
        return [
            _variable(v["key"], v.get("value", ""), v.get("masked"), v.get("file"))
            for v in value if isinstance(v, dict) and v.get("key")
        ]
    return []


def build_payload(session: Session, job: Job, secret: str, public_url: str) -> Payload:
    """What the runner receives for ``job`` (docs/ci.md), with the job token added as CI_JOB_TOKEN (masked)."""
    spec = job.spec or {}
    pipeline = session.get(Pipeline, job.pipeline_id)
    ref = get_repo_by_id(session, job.repo_id)
    if pipeline is None or ref is None:
        raise NotFound(N_("This job's pipeline or repository no longer exists."))
    variables = [v for v in _variables(spec.get("variables")) if v["key"] != "CI_JOB_TOKEN"]
    variables = [v for v in project_variables.merge_into(session, job, pipeline, variables)
                 if v["key"] != "CI_JOB_TOKEN"]
    # Last, so nothing a repository or file sets can replace the token the forge checks.
    variables.append(_variable("CI_JOB_TOKEN", secret, masked=True))
    return {
        "id": job.id,
        "token": secret,
        "name": job.name,
        "stage": job.stage,
        "pipeline_id": job.pipeline_id,
        "image": _image(spec.get("image")),
        "before_script": [str(s) for s in spec.get("before_script") or []],
        "script": [str(s) for s in spec.get("script") or []],
        "after_script": [str(s) for s in spec.get("after_script") or []],
        "variables": variables,
        "timeout": job_timeout(job),
        "git": {
            "url": f"{public_url.rstrip('/')}/{ref.full_name}.git",
            "sha": pipeline.sha,
            "ref": git_ref(session, pipeline),
            "depth": int(spec.get("git_depth", DEFAULT_GIT_DEPTH)),
        },
        "log_offset": job.log_length,
        # CI delivery (docs/ci.md, "Job payload"): stored by the planner, except the dependencies' archives,
        # which are found now so a retried build job's newer archive is the one used.
        "services": list(spec.get("services") or []),
        "artifacts": spec.get("artifacts"),
        "cache": list(spec.get("cache") or []),
        "dependencies": artifacts.payload_dependencies(session, job),
    }


def git_ref(session: Session, pipeline: Pipeline) -> str:
    """What the runner fetches when the server refuses the bare sha: the branch or tag, or for a merge request
    pipeline the pull request's head as the base repository keeps it (``refs/pull/<n>/head``; the head branch may
    be a fork's, which the pipeline's repository does not have)."""
    if pipeline.source == MERGE_REQUEST_SOURCE and pipeline.pull_id is not None:
        pull = session.get(PullRequest, pipeline.pull_id)
        issue = session.get(Issue, pull.issue_id) if pull is not None else None
        if issue is not None:
            return f"refs/pull/{issue.number}/head"
    return pipeline.ref


def job_timeout(job: Job) -> int:
    value = (job.spec or {}).get("timeout")
    return int(value) if isinstance(value, int | float) and value > 0 else DEFAULT_TIMEOUT
