"""Mirroring pipeline states into the commit status of the forge's own context ("ci/forge").

Commit statuses themselves belong to the core (forge.repos.statuses): branch protection and pull requests read
them, and outside systems post them through the API.
"""

from __future__ import annotations

from sqlmodel import Session, select

from forge.repos.models import CommitStatus
from forge.repos.statuses import PIPELINE_CONTEXT, set_status

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

def set_pipeline_status(session: Session, repo_id: int, sha: str, pipeline_id: int, pipeline_status: str,
                        description: str, target_url: str) -> None:
    """Mirror a pipeline's status in the commit's "ci/forge" context. Several pipelines may run for one commit
    (a branch and a tag, a manual run): the newest pipeline owns the context, so an older one finishing late
    does not overwrite it."""
    current = session.exec(
        select(CommitStatus).where(CommitStatus.repo_id == repo_id, CommitStatus.sha == sha,
                                   CommitStatus.context == PIPELINE_CONTEXT)
    ).first()
    if current is not None and current.pipeline_id is not None and current.pipeline_id > pipeline_id:
        return
    set_status(session, repo_id, sha, state=_FROM_PIPELINE.get(pipeline_status, "pending"),
               context=PIPELINE_CONTEXT, description=description, target_url=target_url, pipeline_id=pipeline_id)
