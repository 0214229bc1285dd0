"""Keeping pull requests in step with pushes: a push to a head branch copies it to ``refs/pull/<n>/head``, records
"synchronized" activity and a timeline entry, marks moved review comments outdated and dismisses stale approvals;
a push to a base branch computes mergeability again, and when that push brought the head's commits into the base
(merged by hand) the pull request is closed as merged, as GitHub does. Run once per push event by
forge.push_processing; the forge's own head updates (a resolved conflict, an applied suggestion) call
:func:`synchronize` at once, so the page shows them without waiting for the push processing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session, col, select

from forge import activity
from forge.db.models_base import utcnow
from forge.errors import NotFound
from forge.git.repository import ZERO_SHA, GitRepo
from forge.issues.models import CLOSED, OPEN, Issue
from forge.pulls import gitops, outdated
from forge.pulls.models import CHECKING, EMPTY, PullRequest
from forge.repos.models import PushEvent
from forge.repos.protection import list_rules, matching_rule
from forge.repos.services import RepoRef, get_repo_by_id, open_git, path_of
from forge.settings import Settings

log = logging.getLogger("forge.pulls")

_ZEROS = (ZERO_SHA, "0" * 64)


def _open_pulls(session: Session, *conditions: object) -> list[PullRequest]:
    stmt = (select(PullRequest).join(Issue, col(Issue.id) == PullRequest.issue_id)
            .where(Issue.state == OPEN, *conditions).order_by(col(PullRequest.id)))  # type: ignore[arg-type]
    return list(session.exec(stmt))


def handle_push(session: Session, settings: Settings, event: PushEvent) -> None:
    """Update the pull requests whose head or base ``event`` moved. Each pull request is handled in a savepoint:
    one that fails (a damaged fork, say) is logged and leaves the others and the rest of the push handling alone.
    (The caller has already written its claim on the event, so the savepoints sit inside a write transaction,
    which SQLite needs.)"""
    if not event.ref.startswith("refs/heads/"):
        return
    branch = event.ref[len("refs/heads/"):]
    if event.new_sha in _ZEROS:
        return  # a deleted head leaves its pull requests open with their last head; a deleted base changes nothing
    for pull in _open_pulls(session, PullRequest.head_repo_id == event.repo_id, PullRequest.head_branch == branch):
        _guarded(session, pull, lambda p: synchronize(session, settings, p, actor_id=event.pusher_id))
    for pull in _open_pulls(session, PullRequest.base_repo_id == event.repo_id, PullRequest.base_branch == branch):
        _guarded(session, pull, lambda p: _base_moved(session, settings, p, event))


def _guarded(session: Session, pull: PullRequest, work: Callable[[PullRequest], object]) -> None:
    savepoint = session.begin_nested()
    try:
        work(pull)
    except NotFound:
        savepoint.rollback()  # the branch went again since; its own push event says so
    except Exception:
        savepoint.rollback()
        log.exception("pull request %s could not follow a push", pull.id)
    else:
        savepoint.commit()


def _base_moved(session: Session, settings: Settings, pull: PullRequest, event: PushEvent) -> None:
    refresh_mergeability(session, settings, pull)
    _merged_by_push(session, settings, pull, event)


def _refs(session: Session, pull: PullRequest) -> tuple[RepoRef, RepoRef | None]:
    base = get_repo_by_id(session, pull.base_repo_id)
    assert base is not None
    head = get_repo_by_id(session, pull.head_repo_id) if pull.head_repo_id is not None else None
    return base, head


def synchronize(session: Session, settings: Settings, pull: PullRequest, *, actor_id: int | None) -> bool:
    """Copy the head branch's tip into the base repository and, if it moved, record it: timeline
    ``head_pushed``/``head_force_pushed``, activity ``pull.synchronized``, review comments re-anchored, stale
    approvals dismissed when the base branch's rule says so, mergeability again. False when nothing moved."""
    base, head = _refs(session, pull)
    if head is None:
        return False
    issue = session.get(Issue, pull.issue_id)
    assert issue is not None and issue.id is not None
    base_git = open_git(settings.repos_dir, base)
    before = pull.head_sha
    after = gitops.copy_head(base_git, path_of(settings.repos_dir, head), pull.head_branch, issue.number,
                             git_bin=settings.git_bin)
    if after == before:
        return False
    base_git = GitRepo(base_git.path)  # sees the objects the copy fetched
    pull.head_sha = after
    pull.updated_at = utcnow()
    session.add(pull)
    from forge.issues import services as issues

    if before and gitops.is_ancestor(base_git, before, after):
        # The commits the pull request gained: a merge of the base into the head counts once, not with the base's.
        base_tip = base_git.ref_target(f"refs/heads/{pull.base_branch}")
        count = len(gitops.head_commits(base_git, before, after, *([base_tip] if base_tip else [])))
        issues.add_event(session, issue, actor_id, "head_pushed", {"before": before, "after": after, "count": count})
    elif before:
        issues.add_event(session, issue, actor_id, "head_force_pushed", {"before": before, "after": after})
    activity.record(session, activity.PULL_SYNCHRONIZED, repo_id=pull.base_repo_id, issue_id=issue.id,
                    actor_id=actor_id, data={"before": before, "after": after})
    if before:
        _after_new_commits(session, base, base_git, pull, before, after)
    refresh_mergeability(session, settings, pull)
    return True


def _after_new_commits(session: Session, base: RepoRef, git: GitRepo, pull: PullRequest, before: str,
                       after: str) -> None:
    """Review comments follow their lines; approvals go stale if the rule says so."""
    # Imported here: forge.pulls.reviews imports forge.pulls.services, which imports this module.
    from forge.pulls import reviews

    outdated.refresh_outdated(session, git, pull, before, after)
    rule = matching_rule(list_rules(session, base), pull.base_branch)
    if rule is None or not rule.dismiss_stale_approvals:
        return
    reviews.dismiss_stale_approvals(session, pull)


def refresh_mergeability(session: Session, settings: Settings, pull: PullRequest) -> None:
    """Compute mergeability against the base branch's tip now and store it (status, conflicting files, merge base,
    commits behind). A missing base branch leaves the status "checking" (nothing can be merged into it)."""
    base, head = _refs(session, pull)
    git = open_git(settings.repos_dir, base)
    if not pull.head_sha:
        issue = session.get(Issue, pull.issue_id)
        if head is None or issue is None:
            return
        pull.head_sha = gitops.copy_head(git, path_of(settings.repos_dir, head), pull.head_branch, issue.number,
                                         git_bin=settings.git_bin)
        git = GitRepo(git.path)
    base_sha = git.ref_target(f"refs/heads/{pull.base_branch}")
    if base_sha is None:
        pull.merge_status = CHECKING
        pull.updated_at = utcnow()
        session.add(pull)
        return
    check = gitops.check_merge(git, base_sha, pull.head_sha)
    apply_check(pull, base_sha, check)
    session.add(pull)
    session.flush()


def apply_check(pull: PullRequest, base_sha: str, check: gitops.MergeCheck) -> None:
    pull.base_sha = base_sha
    pull.merge_base = check.merge_base
    pull.merge_status = check.status
    pull.conflict_files = "\n".join(check.conflicts)
    pull.commits_behind = check.commits_behind
    pull.updated_at = utcnow()


def _merged_by_push(session: Session, settings: Settings, pull: PullRequest, event: PushEvent) -> None:
    """The push brought every head commit into the base (someone merged by hand): the pull request is merged."""
    if pull.merge_status != EMPTY or not pull.head_sha:
        return
    base, _head = _refs(session, pull)
    git = open_git(settings.repos_dir, base)
    if not gitops.is_ancestor(git, pull.head_sha, event.new_sha):
        return
    if event.old_sha not in _ZEROS and gitops.is_ancestor(git, pull.head_sha, event.old_sha):
        return  # the base already had the head before this push: not merged by it
    from forge.pulls import merging

    issue = session.get(Issue, pull.issue_id)
    if issue is None or issue.state == CLOSED:
        return
    merging.mark_merged(session, base, pull, issue, actor_id=event.pusher_id, sha=event.new_sha, style="")
    if pull.base_branch == base.repo.default_branch and issue.body.strip():
        from forge.issues import references

        actor = None
        if event.pusher_id is not None:
            from forge.accounts.models import Account

            actor = session.get(Account, event.pusher_id)
        references.close_from_text(session, actor, base, issue.body, commit_sha=event.new_sha,
                                   pull_number=issue.number)
    log.info("pull request %s#%s merged by a push to %s", base.full_name, issue.number, pull.base_branch)
