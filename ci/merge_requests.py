"""Merge request pipelines: pull request activity (opened, new commits, reopened) becomes a pipeline with
``CI_PIPELINE_SOURCE=merge_request_event`` on the pull request's head, each activity row at most once; and pull
requests set to merge automatically are merged once a pipeline on their head has finished (docs/ci.md,
"Merge request pipelines").

The pattern is ``ci.triggers``' for push events: ``process_pending`` handles the ``activity`` rows of kinds
``pull.opened``, ``pull.synchronized`` and ``issue.reopened`` (of a pull request) that CI has not seen, each in its
own transaction that first inserts its ``ci_merge_request_seen`` row (the claim: a second worker blocks on the
primary key and then fails, so one pipeline at most is made per activity). The git HTTP handler calls it right
after a push (after the core has recorded "synchronized"); the periodic ``sweep`` catches the rest, including pull
requests opened in the browser.

The pipeline belongs to the base repository (``pull_id`` set, ``ref`` the head branch's name, ``ref_kind``
"pull") and runs the pull request's *current* head (``PullRequest.head_sha``; the base repository keeps the commits
at ``refs/pull/<number>/head``, which is where a runner fetches them from, whether the head branch is the base
repository's or a fork's). Jobs follow GitLab's rules: only those that ask for merge request pipelines run
(``rules: - if: $CI_PIPELINE_SOURCE == "merge_request_event"``, ``only: [merge_requests]``); a file none of whose
jobs ask makes no pipeline. A pull request from a fork gets no repository or organisation variables
(``ci.project_variables.receives_secrets``).
"""

from __future__ import annotations

import importlib
import logging
import threading
from datetime import timedelta

from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ci import lifecycle, pipelines, variables
from ci.background import periodic
from ci.jobstate import FINAL_PIPELINE_STATES
from ci.models import Pipeline
from ci.models.merge_requests import MergeRequestSeen
from forge import activity as activities
from forge import outbox
from forge.accounts.models import Account
from forge.activity import Activity
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import NotFound
from forge.git import changes
from forge.git.repository import GitRepo
from forge.issues.models import OPEN, Issue, IssueAssignee, IssueLabel, Label, Milestone
from forge.pulls.models import PullRequest
from forge.repos.services import RepoRef, get_repo_by_id, open_git
from forge.settings import Settings

log = logging.getLogger("forge.ci")

LOOKBACK = timedelta(days=2)  # as ci.triggers: older activity is left alone
BATCH = 50
# The activity that makes a merge request pipeline (GitLab: a merge request is created, gets new commits, or is
# reopened).
KINDS = (activities.PULL_OPENED, activities.PULL_SYNCHRONIZED, activities.ISSUE_REOPENED)

# ``ci_merge_request_seen.outcome`` when no pipeline was made, besides ci.pipelines' "no_config", "workflow" and
# "no_jobs": the activity is not about an open pull request ("ignored", "closed"), its head cannot be found in the
# base repository ("no_head"), a merge request pipeline on that head exists already ("duplicate": opened and then
# synchronized before CI got to either), or making it failed ("error", logged).
IGNORED = "ignored"
CLOSED = "closed"
NO_HEAD = "no_head"
DUPLICATE = "duplicate"
ERROR = "error"


# --- making pipelines -----------------------------------------------------------------------------------------


def pull_of_issue(session: Session, issue_id: int) -> PullRequest | None:
    return session.exec(select(PullRequest).where(PullRequest.issue_id == issue_id)).first()


def handle_activity(session: Session, settings: Settings, row: Activity) -> MergeRequestSeen:
    """Claim ``row`` and make its merge request pipeline (or record why there is none). Raises IntegrityError at
    the claim when another worker has it."""
    assert row.id is not None
    seen = MergeRequestSeen(activity_id=row.id)
    session.add(seen)
    session.flush()  # the claim
    outcome, pipeline = _make(session, settings, row)
    seen.outcome = outcome
    seen.pipeline_id = pipeline.id if pipeline is not None else None
    session.add(seen)
    session.flush()
    return seen


def _make(session: Session, settings: Settings, row: Activity) -> tuple[str, Pipeline | None]:
    issue = session.get(Issue, row.issue_id) if row.issue_id is not None else None
    if issue is None or not issue.is_pull or row.kind not in KINDS:
        return IGNORED, None
    pull = pull_of_issue(session, issue.id or 0)
    if pull is None:
        return IGNORED, None
    if issue.state != OPEN or pull.merged_at is not None:
        return CLOSED, None
    base = get_repo_by_id(session, pull.base_repo_id)
    if base is None:
        return IGNORED, None
    if not pull.head_sha:
        return NO_HEAD, None
    # Opened and synchronized rows handled late all find the same current head: one pipeline for it is enough.
    # Reopening asks for a new one (as in GitLab), whatever ran before the pull request was closed.
    if row.kind != activities.ISSUE_REOPENED and _has_pipeline(session, pull):
        return DUPLICATE, None
    git = open_git(settings.repos_dir, base)
    try:
        head = git.resolve_commit(pull.head_sha).sha
    except NotFound:
        return NO_HEAD, None
    trigger = merge_request_trigger(session, settings, git, base, issue, pull, head, row.actor_id)
    outcome = pipelines.create_pipeline(session, settings, git, trigger)
    if outcome.pipeline is None:
        return outcome.reason, None
    cancel_redundant(session, outcome.pipeline)
    return "", outcome.pipeline


def _has_pipeline(session: Session, pull: PullRequest) -> bool:
    stmt = select(Pipeline.id).where(Pipeline.pull_id == pull.id, Pipeline.sha == pull.head_sha,
                                     Pipeline.source == variables.MERGE_REQUEST_SOURCE)
    return session.exec(stmt.limit(1)).first() is not None


def merge_request_trigger(session: Session, settings: Settings, git: GitRepo, base: RepoRef, issue: Issue,
                          pull: PullRequest, head: str, actor_id: int | None) -> pipelines.Trigger:
    """The trigger of a merge request pipeline on commit ``head`` of ``pull`` (in the base repository ``git``):
    the CI_MERGE_REQUEST_* variables, and ``rules:changes`` seeing what the pull request changes (GitLab: the
    diff between the target branch's merge base and the head)."""
    target_sha = git.ref_target(f"refs/heads/{pull.base_branch}") or pull.base_sha
    diff_base = (changes.merge_base(git, target_sha, head) if target_sha else None) or ""
    changed = changes.changed_paths(git, diff_base, head) if diff_base else None
    head_ref = None
    if pull.head_repo_id is not None:
        head_ref = base if pull.head_repo_id == base.repo.id else get_repo_by_id(session, pull.head_repo_id)
    facts = variables.MergeRequestFacts(
        id=pull.id or 0,
        number=issue.number,
        title=issue.title,
        description=issue.body,
        project_id=base.repo.id or 0,
        project_path=base.full_name,
        source_project_id=head_ref.repo.id if head_ref is not None else None,
        source_project_path=head_ref.full_name if head_ref is not None else "",
        source_branch=pull.head_branch,
        source_sha=head,
        source_protected=(head_ref is not None
                          and pipelines.ref_protected(session, head_ref, pull.head_branch, "branch")),
        target_branch=pull.base_branch,
        target_sha=target_sha,
        target_protected=pipelines.ref_protected(session, base, pull.base_branch, "branch"),
        diff_base_sha=diff_base,
        draft=pull.is_draft,
        labels=_labels(session, issue),
        assignees=_assignees(session, issue),
        milestone=_milestone(session, issue),
    )
    predefined = variables.merge_request_variables(facts, settings.public_url())
    if head_ref is not None:
        opened = pipelines.open_merge_requests(session, head_ref, pull.head_branch)
        if opened:
            predefined["CI_OPEN_MERGE_REQUESTS"] = opened
    return pipelines.Trigger(
        ref=base,
        ref_name=pull.head_branch,
        ref_kind=variables.PULL_REF_KIND,
        sha=head,
        source=variables.MERGE_REQUEST_SOURCE,
        actor_id=actor_id,
        changed_paths=changed,
        pull_id=pull.id,
        predefined=predefined,
        # Code from a fork: no environments or resource groups (and no secrets: ci.project_variables).
        trusted=pull.head_repo_id is not None and pull.head_repo_id == base.repo.id,
    )


def _labels(session: Session, issue: Issue) -> tuple[str, ...]:
    rows = session.exec(select(Label.name).join(IssueLabel, col(IssueLabel.label_id) == Label.id)
                        .where(IssueLabel.issue_id == issue.id)).all()
    return tuple(sorted(rows, key=str.lower))


def _assignees(session: Session, issue: Issue) -> tuple[str, ...]:
    rows = session.exec(select(Account.name).join(IssueAssignee, col(IssueAssignee.user_id) == Account.id)
                        .where(IssueAssignee.issue_id == issue.id)).all()
    return tuple(sorted(rows, key=str.lower))


def _milestone(session: Session, issue: Issue) -> str:
    if issue.milestone_id is None:
        return ""
    milestone = session.get(Milestone, issue.milestone_id)
    return milestone.title if milestone is not None else ""


def cancel_redundant(session: Session, pipeline: Pipeline) -> list[int]:
    """New commits on a pull request make its older unfinished merge request pipelines redundant: cancel them
    as ``ci.lifecycle`` cancels a branch's (GitLab's "auto-cancel redundant pipelines" covers merge requests)."""
    if pipeline.pull_id is None or pipeline.id is None:
        return []
    older = session.exec(
        select(Pipeline.id).where(
            Pipeline.pull_id == pipeline.pull_id, Pipeline.source == variables.MERGE_REQUEST_SOURCE,
            col(Pipeline.id) < pipeline.id, Pipeline.sha != pipeline.sha,
            col(Pipeline.status).in_(lifecycle.CANCELABLE_PIPELINES),
            col(Pipeline.created_at) >= utcnow() - lifecycle.REDUNDANT_MAX_AGE,
        ).order_by(col(Pipeline.id).desc())
    ).all()
    # ci.lifecycle's own step, in its locking order (newest first).
    return [old for old in older
            if old is not None and lifecycle.cancel_if_interruptible(session, old, pipeline.id)]


def _unseen(engine: Engine, limit: int) -> list[int]:
    with session_scope(engine) as session:
        seen = select(MergeRequestSeen.activity_id).where(MergeRequestSeen.activity_id == Activity.id)
        is_pull = select(Issue.id).where(Issue.id == Activity.issue_id, col(Issue.is_pull).is_(True))
        wanted = or_(col(Activity.kind).in_([activities.PULL_OPENED, activities.PULL_SYNCHRONIZED]),
                     and_(col(Activity.kind) == activities.ISSUE_REOPENED, is_pull.exists()))
        stmt = (select(Activity.id).where(col(Activity.created_at) >= utcnow() - LOOKBACK, wanted, ~seen.exists())
                .order_by(col(Activity.id)).limit(limit))
        return [i for i in session.exec(stmt) if i is not None]


def _load(session: Session, activity_id: int) -> Activity | None:
    row = session.get(Activity, activity_id)
    return None if row is None or session.get(MergeRequestSeen, activity_id) is not None else row


def process_pending(engine: Engine, settings: Settings, limit: int = BATCH) -> int:
    """Make the pipelines for pull request activity CI has not seen; returns how many events it handled."""
    return outbox.consume(
        engine, _unseen(engine, limit), load=_load, handle=lambda s, row: handle_activity(s, settings, row),
        mark_failed=lambda s, activity_id: s.add(MergeRequestSeen(activity_id=activity_id, outcome=ERROR)),
        log=log, what="pull request activity (CI)",
    )


@periodic(5)
def sweep(engine: Engine, settings: Settings) -> None:
    process_pending(engine, settings)


# --- reading back ---------------------------------------------------------------------------------------------


def pipelines_for_pull(session: Session, pull: PullRequest, limit: int = 20) -> list[Pipeline]:
    """The pull request's merge request pipelines, newest first."""
    stmt = (select(Pipeline).where(Pipeline.pull_id == pull.id, Pipeline.source == variables.MERGE_REQUEST_SOURCE)
            .order_by(col(Pipeline.id).desc()).limit(limit))
    return list(session.exec(stmt))


def pull_numbers(session: Session, rows: list[Pipeline]) -> dict[int, int]:
    """pull_id -> the pull request's number, for the merge request pipelines among ``rows`` (one query)."""
    ids = sorted({p.pull_id for p in rows if p.pull_id is not None})
    if not ids:
        return {}
    found = session.exec(select(PullRequest.id, Issue.number).join(Issue, col(Issue.id) == PullRequest.issue_id)
                         .where(col(PullRequest.id).in_(ids))).all()
    return {pull_id: number for pull_id, number in found if pull_id is not None}


# --- auto-merge ---------------------------------------------------------------------------------------------------
#
# When a pipeline reaches a final state, the pull requests set to merge automatically whose head is its commit are
# offered to ``forge.pulls.auto_merge.try_auto_merge`` (which checks everything the merge button checks). This runs
# a few seconds later, in its own transaction, from a sweep over recently finished pipelines: a merge is git work
# that must not hold up (or roll back with) the runner's report, and every way a pipeline ends (a job's report,
# cancel, a lost runner, a skipped stage) is covered alike. The core's own auto-merge sweep catches anything else
# (approvals arriving later, statuses posted by other systems).

FINISHED_WINDOW = timedelta(minutes=2)
_offered: dict[int, float] = {}  # pipeline id -> when it was offered (this worker), so each is offered once
_offered_lock = threading.Lock()


def _try_auto_merge(session: Session, settings: Settings, repo_id: int, sha: str) -> int:
    # forge.pulls.auto_merge is the core's (issue 6, written alongside this module): called by name so CI keeps
    # working while it is absent.
    try:
        module = importlib.import_module("forge.pulls.auto_merge")
    except ImportError:
        return 0
    merge = getattr(module, "try_auto_merge", None)
    if merge is None:
        return 0
    return int(merge(session, settings, repo_id, sha) or 0)


def finished_with_auto_merge(session: Session, since_seconds: float) -> list[tuple[int, int, str]]:
    """(pipeline id, repository, sha) of pipelines finished in the last ``since_seconds`` whose commit is the head
    of an open pull request of their repository with auto-merge set."""
    since = utcnow() - timedelta(seconds=since_seconds)
    stmt = (
        select(Pipeline.id, Pipeline.repo_id, Pipeline.sha)
        .join(PullRequest, and_(col(PullRequest.base_repo_id) == Pipeline.repo_id,
                                col(PullRequest.head_sha) == Pipeline.sha))
        .where(col(Pipeline.status).in_(FINAL_PIPELINE_STATES), col(Pipeline.finished_at) >= since,
               PullRequest.auto_merge_style != "", col(PullRequest.merged_at).is_(None))
        .order_by(col(Pipeline.id))
    )
    return [(pid, repo_id, sha) for pid, repo_id, sha in session.exec(stmt).all() if pid is not None]


def auto_merge_finished(engine: Engine, settings: Settings) -> int:
    """Offer the heads of recently finished pipelines to auto-merge, each pipeline once per worker; returns how
    many pull requests were merged."""
    now = utcnow().timestamp()
    with session_scope(engine) as session:
        found = finished_with_auto_merge(session, FINISHED_WINDOW.total_seconds())
    with _offered_lock:
        for pid in [p for p, when in _offered.items() if now - when > 2 * FINISHED_WINDOW.total_seconds()]:
            del _offered[pid]
        fresh = [(pid, repo_id, sha) for pid, repo_id, sha in found if pid not in _offered]
        for pid, _, _ in fresh:
            _offered[pid] = now
    merged = 0
    for repo_id, sha in dict.fromkeys((repo_id, sha) for _, repo_id, sha in fresh):
        try:
            with session_scope(engine) as session:
                merged += _try_auto_merge(session, settings, repo_id, sha)
        except Exception:
            log.exception("auto-merge of the pull requests at %s (repository %s) failed", sha, repo_id)
    return merged


@periodic(2)
def auto_merge_sweep(engine: Engine, settings: Settings) -> None:
    auto_merge_finished(engine, settings)
