"""Auto-merge: someone who may merge asks the forge to merge a pull request, in a chosen style, as soon as every
requirement of the gate is met (approvals, required checks, up to date...).

The forge tries when a pipeline finishes (CI calls :func:`try_auto_merge` with the commit) and in a periodic sweep
(every 10 s), which also catches approvals and statuses posted from outside. The merge is made as the user who
enabled auto-merge, with that user's permissions at the time of merging: someone who lost write access merges
nothing (auto-merge is switched off then).
"""

from __future__ import annotations

import logging

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.background import periodic
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import Conflict, ForgeError, InvalidInput
from forge.i18n import N_
from forge.issues.models import OPEN, Issue
from forge.permissions import Access, repo_access, require_repo_access
from forge.pulls import gate, merging
from forge.pulls import settings as merge_settings
from forge.pulls.models import PullRequest
from forge.repos.services import RepoRef, get_repo_by_id
from forge.settings import Settings

log = logging.getLogger("forge.pulls")

SWEEP_SECONDS = 10
SWEEP_BATCH = 50


def enable(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, style: str,
           delete_branch: bool = False) -> None:
    """Merge ``pull`` in ``style`` once it may be merged (WRITE on the base; not for a draft; the style must be
    allowed). Enabling again changes the style."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    issue = session.get(Issue, pull.issue_id)
    if pull.base_repo_id != ref.repo.id or issue is None:
        raise InvalidInput(N_("There is no such pull request in this repository."))
    if issue.state != OPEN:
        raise Conflict(N_("This pull request is closed."))
    if pull.is_draft:
        raise InvalidInput(N_("A draft cannot be merged automatically; mark it ready for review first."))
    if not merge_settings.style_allowed(merge_settings.get_merge_settings(session, pull.base_repo_id), style):
        raise InvalidInput(N_("This repository does not allow that merge method."))
    pull.auto_merge_style = style
    pull.auto_merge_by_id = actor.id
    pull.auto_merge_delete_branch = delete_branch
    session.add(pull)
    from forge.issues import services as issues

    issues.add_event(session, issue, actor.id, "auto_merge_enabled", {"style": style})
    session.flush()


def disable(session: Session, actor: Account | None, ref: RepoRef, pull: PullRequest) -> bool:
    """Switch auto-merge off (WRITE on the base, or the user who switched it on). False when it was off."""
    if actor is None or pull.auto_merge_by_id != actor.id:
        require_repo_access(session, actor, ref.repo, Access.WRITE)
    return _switch_off(session, pull, actor.id if actor is not None else None)


def _switch_off(session: Session, pull: PullRequest, actor_id: int | None) -> bool:
    if not pull.auto_merge_style:
        return False
    pull.auto_merge_style = ""
    pull.auto_merge_by_id = None
    pull.auto_merge_delete_branch = False
    session.add(pull)
    issue = session.get(Issue, pull.issue_id)
    if issue is not None:
        from forge.issues import services as issues

        issues.add_event(session, issue, actor_id, "auto_merge_disabled")
    session.flush()
    return True


def try_pull(session: Session, settings: Settings, pull: PullRequest) -> bool:
    """Merge ``pull`` now if auto-merge is on and the gate passes; True when it was merged. Errors of the merge
    (the base moved, a conflict appeared) leave auto-merge on for the next try; a merger without write access any
    more switches it off."""
    if not pull.auto_merge_style or pull.auto_merge_by_id is None or pull.merged_at is not None:
        return False
    ref = get_repo_by_id(session, pull.base_repo_id)
    actor = session.get(Account, pull.auto_merge_by_id)
    if ref is None:
        return False
    if actor is None or repo_access(session, actor, ref.repo) < Access.WRITE:
        _switch_off(session, pull, None)
        return False
    if not gate.evaluate(session, settings, ref, pull, actor).ok:
        return False
    # Write first, then the savepoint: on SQLite a SAVEPOINT opened before the transaction's first write starts a
    # read snapshot that cannot become a write once another connection has written ("database is locked").
    pull.updated_at = utcnow()
    session.add(pull)
    session.flush()
    savepoint = session.begin_nested()
    try:
        merging.merge_pull(session, settings, actor, ref, pull, style=pull.auto_merge_style,
                           delete_branch=pull.auto_merge_delete_branch, expected_head=pull.head_sha)
    except ForgeError as exc:
        savepoint.rollback()
        session.refresh(pull)
        log.info("auto-merge of pull request %s not done yet: %s", pull.id, exc)
        return False
    savepoint.commit()
    return True


def try_auto_merge(session: Session, settings: Settings, repo_id: int, sha: str) -> int:
    """Merge the ready pull requests with auto-merge on whose head is ``sha`` (statuses of ``repo_id``: the base
    repository, or a fork the head lives in); returns how many were merged."""
    stmt = (select(PullRequest).join(Issue, col(Issue.id) == PullRequest.issue_id)
            .where(Issue.state == OPEN, PullRequest.head_sha == sha, col(PullRequest.auto_merge_style) != "",
                   or_(col(PullRequest.base_repo_id) == repo_id, col(PullRequest.head_repo_id) == repo_id))
            .order_by(col(PullRequest.id)))
    return sum(1 for pull in list(session.exec(stmt)) if try_pull(session, settings, pull))


def _waiting(engine: Engine) -> list[int]:
    with session_scope(engine) as session:
        stmt = (select(PullRequest.id).join(Issue, col(Issue.id) == PullRequest.issue_id)
                .where(Issue.state == OPEN, col(PullRequest.auto_merge_style) != "")
                .order_by(col(PullRequest.updated_at)).limit(SWEEP_BATCH))
        return [i for i in session.exec(stmt) if i is not None]


@periodic(SWEEP_SECONDS)
def sweep(engine: Engine, settings: Settings) -> None:
    """Try every pull request waiting for auto-merge, each in its own transaction."""
    for pull_id in _waiting(engine):
        try:
            with session_scope(engine) as session:
                pull = session.get(PullRequest, pull_id)
                if pull is not None:
                    try_pull(session, settings, pull)
        except Exception:
            log.exception("auto-merge of pull request %s failed", pull_id)
