"""Mirroring pipeline states into the commit status of the forge's own contexts: "ci/forge" for branch, tag and
manual pipelines, "ci/forge/merge-request" for merge request pipelines (a pull request's head commit may have both;
branch protection can require either; docs/ci.md, "Merge request pipelines").

Commit statuses themselves belong to the core (forge.repos.statuses): branch protection and pull requests read
them, and outside systems post them through the API.
"""

from __future__ import annotations

from sqlmodel import Session, select

from forge.repos.models import CommitStatus
from forge.repos.statuses import PIPELINE_CONTEXT, set_status

# The context of merge request pipelines (source "merge_request_event").
MERGE_REQUEST_CONTEXT = "ci/forge/merge-request"

# Pipeline status -> commit status state.
_FROM_PIPELINE = {
    "created": "pending",
    "pending": "pending",
    "running": "running",
    "manual": "pending",
    "success": "success",
    "failed": "failed",
    "canceled": "canceled",
    "skipped": "success",
    "config_error": "failed",
}


def context_for(source: str) -> str:
    """The commit status context a pipeline of ``source`` writes."""
    return MERGE_REQUEST_CONTEXT if source == "merge_request_event" else PIPELINE_CONTEXT


def set_pipeline_status(session: Session, repo_id: int, sha: str, pipeline_id: int, pipeline_status: str,
                        description: str, target_url: str, context: str = PIPELINE_CONTEXT) -> None:
    """Mirror a pipeline's status in the commit's ``context`` ("ci/forge" unless it is a merge request pipeline).
    Several pipelines may run for one commit (a branch and a tag, a manual run, two pull requests with one head):
    the newest pipeline owns the context, so an older one finishing late does not overwrite it."""
    current = session.exec(
        select(CommitStatus).where(CommitStatus.repo_id == repo_id, CommitStatus.sha == sha,
                                   CommitStatus.context == context)
    ).first()
    if current is not None and current.pipeline_id is not None and current.pipeline_id > pipeline_id:
        return
    set_status(session, repo_id, sha, state=_FROM_PIPELINE.get(pipeline_status, "pending"),
               context=context, description=description, target_url=target_url, pipeline_id=pipeline_id)
