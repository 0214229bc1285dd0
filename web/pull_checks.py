"""The "Checks" box of a pull request's conversation page (``ci/pull_checks.html``): every commit status of the
head commit (the forge's own pipeline contexts first), the contexts the base branch's protection requires that
have not reported yet, and the pull request's latest merge request pipeline with a link.

The pull request page does ``ctx.update(checks_context(session, ref, pull))`` and
``{% include "ci/pull_checks.html" %}``; the viewer's read access to ``ref`` has been checked by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from ci import merge_requests
from ci.models import Pipeline
from forge.pulls.models import PullRequest
from forge.repos import protection
from forge.repos.models import CommitStatus
from forge.repos.services import RepoRef
from forge.repos.statuses import combine, list_for

# Older merge request pipelines listed under the latest one.
HISTORY = 5


@dataclass(frozen=True)
class PullChecks:
    base: str  # "/owner/repo" of the base repository (where the pipelines and statuses live)
    head_sha: str
    statuses: list[CommitStatus]
    state: str  # combined: failed / error / running / pending / canceled / success ("" when there is nothing)
    pipeline: Pipeline | None  # the newest merge request pipeline of the pull request
    pipeline_is_current: bool  # it ran on the current head
    older: list[Pipeline] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # required contexts without a status on the head
    required: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.statuses and self.pipeline is None and not self.missing


def checks_for(session: Session, ref: RepoRef, pull: PullRequest) -> PullChecks:
    assert ref.repo.id is not None
    statuses = list_for(session, ref.repo.id, pull.head_sha) if pull.head_sha else []
    recent = merge_requests.pipelines_for_pull(session, pull, limit=HISTORY + 1)
    latest = recent[0] if recent else None
    rule = protection.matching_rule(protection.list_rules(session, ref), pull.base_branch)
    required = rule.contexts if rule is not None else []
    present = {s.context for s in statuses}
    missing = [c for c in required if c not in present]
    states = [s.state for s in statuses] + (["pending"] if missing else [])
    return PullChecks(
        base=f"/{ref.full_name}",
        head_sha=pull.head_sha,
        statuses=statuses,
        state=combine(states) if states else "",
        pipeline=latest,
        pipeline_is_current=latest is not None and latest.sha == pull.head_sha,
        older=recent[1:],
        missing=missing,
        required=frozenset(required),
    )


def checks_context(session: Session, ref: RepoRef, pull: PullRequest) -> dict[str, Any]:
    """``{"checks": PullChecks}`` for ``ci/pull_checks.html``."""
    return {"checks": checks_for(session, ref, pull)}
