"""Whether a pull request may be merged now, and if not, why: the merge box lists the problems, the merge service
and auto-merge refuse while any remains.

The checks: the pull request is open, not a draft, computed as mergeable (no conflicts, something to merge), and the
base branch's protection rule (if any) is met: enough approvals (the latest verdict of each reviewer other than the
author and only from people with write access; dismissed reviews do not count; while approvals are required, a
"changes requested" from anyone with write access blocks), every required status context ``success`` on the head
commit, the head up to date with the base if required, and the merging user allowed to push to the base when the
rule restricts pushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.i18n import N_
from forge.issues.models import OPEN, Issue
from forge.permissions import Access, repo_access
from forge.pulls.models import (
    APPROVED,
    CHANGES_REQUESTED,
    CHECKING,
    CONFLICT,
    DISMISSED,
    EMPTY,
    PullRequest,
    PullReview,
)
from forge.repos import statuses
from forge.repos.models import ProtectedBranch
from forge.repos.protection import list_rules, matching_rule, may_push
from forge.repos.services import RepoRef
from forge.settings import Settings

# Problem kinds (the merge box may pick an icon or a hint per kind).
CLOSED = "closed"
DRAFT = "draft"
CHECKING_KIND = "checking"
CONFLICTS = "conflicts"
NOTHING = "empty"
APPROVALS = "approvals"
CHANGES = "changes_requested"
CONTEXTS = "contexts"
BEHIND = "behind"
RESTRICTED = "restricted"


@dataclass(frozen=True)
class Problem:
    """One unmet requirement: ``message`` is an English N_ string, translated with ``params`` by the page."""

    kind: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return self.message % self.params if self.params else self.message


@dataclass
class GateResult:
    ok: bool
    problems: list[Problem]
    approvals: int
    required_approvals: int
    contexts: list[tuple[str, str]]  # each required context with its state on the head ("missing" when none)
    behind: int
    rule: ProtectedBranch | None = None
    changes_requested_by: list[int] = field(default_factory=list)  # reviewer ids whose verdict blocks


def verdicts(session: Session, pull: PullRequest, author_id: int | None) -> dict[int, PullReview]:
    """Reviewer id -> their latest approve / request-changes review that still counts (a later "comment" review
    does not replace a verdict; a dismissed verdict counts as none). The author's own reviews never count."""
    rows = session.exec(
        select(PullReview)
        .where(PullReview.pull_id == pull.id, col(PullReview.state).in_([APPROVED, CHANGES_REQUESTED, DISMISSED]))
        .order_by(col(PullReview.submitted_at), col(PullReview.id))
    )
    latest: dict[int, PullReview] = {}
    for review in rows:
        if review.reviewer_id is None or review.reviewer_id == author_id:
            continue
        latest[review.reviewer_id] = review
    return {k: v for k, v in latest.items() if v.state != DISMISSED and v.dismissed_at is None}


def context_states(session: Session, pull: PullRequest, contexts: list[str]) -> list[tuple[str, str]]:
    """The state of each context on the head commit, as posted to the base repository (the forge's merge request
    pipelines, outside systems the base's maintainers set up). Statuses a fork posts to itself never count: the
    fork's owner could post "success" for any context through the status API."""
    found = {s.context: s.state for s in statuses.list_for(session, pull.base_repo_id, pull.head_sha)}
    return [(c, found.get(c, "missing")) for c in contexts]


def evaluate(
    session: Session, settings: Settings, ref: RepoRef, pull: PullRequest, actor: Account | None
) -> GateResult:
    """Every requirement of merging ``pull`` now (as ``actor`` when given) that is not met."""
    del settings  # the gate reads the database only; mergeability was computed by sync/merging
    problems: list[Problem] = []
    issue = session.get(Issue, pull.issue_id)
    if issue is None or issue.state != OPEN:
        problems.append(Problem(CLOSED, N_("This pull request is closed.")))
    if pull.is_draft:
        problems.append(Problem(DRAFT, N_("This pull request is still a draft.")))
    if pull.merge_status == CHECKING:
        problems.append(Problem(CHECKING_KIND, N_("Checking whether this pull request can be merged…")))
    elif pull.merge_status == CONFLICT:
        if pull.conflicts:
            problems.append(Problem(CONFLICTS, N_("This branch has conflicts that must be resolved: %(files)s."),
                                    {"files": ", ".join(pull.conflicts)}))
        else:
            problems.append(Problem(CONFLICTS, N_("This branch cannot be merged automatically.")))
    elif pull.merge_status == EMPTY:
        problems.append(Problem(NOTHING, N_("There is nothing to merge: the base branch already has these "
                                            "commits.")))

    rule = matching_rule(list_rules(session, ref), pull.base_branch)
    author_id = issue.author_id if issue is not None else None
    latest = verdicts(session, pull, author_id)
    writers = {i for i in latest if _writes(session, i, ref)}
    approvals = sum(1 for i, r in latest.items() if r.state == APPROVED and i in writers)
    required = rule.required_approvals if rule is not None else 0
    blocking = sorted(i for i, r in latest.items() if r.state == CHANGES_REQUESTED and i in writers)
    contexts: list[tuple[str, str]] = []
    if rule is not None:
        if required > approvals:
            problems.append(Problem(APPROVALS, N_("Approving reviews required: %(required)s; given so far: %(count)s."),
                                    {"required": required, "count": approvals}))
        if required > 0 and blocking:
            names = [a.name for a in (session.get(Account, i) for i in blocking) if a is not None]
            problems.append(Problem(CHANGES, N_("Changes were requested by %(names)s."),
                                    {"names": ", ".join(sorted(names))}))
        contexts = context_states(session, pull, rule.contexts)
        failing = [c for c, state in contexts if state != "success"]
        if failing:
            problems.append(Problem(CONTEXTS, N_("Required checks have not passed: %(contexts)s."),
                                    {"contexts": ", ".join(failing)}))
        if rule.require_up_to_date and pull.commits_behind > 0:
            problems.append(Problem(BEHIND, N_("This branch is out of date: %(base)s has %(count)s commit(s) it "
                                               "lacks."),
                                    {"count": pull.commits_behind, "base": pull.base_branch}))
        if actor is not None and rule.restrict_push:
            level = repo_access(session, actor, ref.repo)
            if not may_push(session, actor, level, rule):
                problems.append(Problem(RESTRICTED, N_("You are not allowed to push to %(base)s, so you cannot "
                                                       "merge into it."), {"base": pull.base_branch}))
    return GateResult(
        ok=not problems,
        problems=problems,
        approvals=approvals,
        required_approvals=required,
        contexts=contexts,
        behind=pull.commits_behind,
        rule=rule,
        changes_requested_by=blocking if required > 0 else [],
    )


def _writes(session: Session, user_id: int, ref: RepoRef) -> bool:
    """Only the reviews of people with write access count (GitHub's rule), so nobody approves their way in."""
    user = session.get(Account, user_id)
    return user is not None and repo_access(session, user, ref.repo) >= Access.WRITE
