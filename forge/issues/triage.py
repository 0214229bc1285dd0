"""Triage of an issue: labels, assignees, milestone, due date, lock and pin, all needing WRITE access.

Each change writes its own timeline entry ("added the bug label", "locked as too heated"); only the changes people
are notified of (labels added, people assigned) also write an activity row. What can be chosen, and checking that
a choice belongs to the repository, is forge.issues.metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlmodel import Session, col, select

from forge import activity
from forge.accounts.models import Account
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.issues.access import require_triage
from forge.issues.metadata import assignees_of, chosen_assignees, chosen_labels, chosen_milestone, labels_of
from forge.issues.models import Issue, IssueAssignee, IssueLabel, Milestone
from forge.issues.services import add_event, record_activity, touch
from forge.repos.services import RepoRef

MAX_PINNED = 3
LOCK_REASONS = ("", "off-topic", "too heated", "resolved", "spam")


# --- labels, assignees, milestone, due date ----------------------------------------------------------------


def set_labels(session: Session, actor: Account, ref: RepoRef, issue: Issue, label_ids: Iterable[int]) -> None:
    """Make the issue's labels exactly ``label_ids``; a ``labeled``/``unlabeled`` entry for each change."""
    user = require_triage(session, actor, ref)
    wanted = {label.id: label for label in chosen_labels(session, ref, label_ids)}
    current = {label.id: label for label in labels_of(session, [issue.id or 0])[issue.id or 0]}
    assert issue.id is not None
    added = [wanted[i] for i in wanted if i not in current]
    removed = [current[i] for i in current if i not in wanted]
    for label in removed:
        row = session.get(IssueLabel, (issue.id, label.id))
        if row is not None:
            session.delete(row)
        add_event(session, issue, user.id, "unlabeled", {"label_id": label.id, "name": label.name,
                                                         "color": label.color})
    for label in added:
        assert label.id is not None
        session.add(IssueLabel(issue_id=issue.id, label_id=label.id))
        add_event(session, issue, user.id, "labeled", {"label_id": label.id, "name": label.name,
                                                       "color": label.color})
    if added or removed:
        touch(session, issue)
        session.flush()
    if added:
        record_activity(session, activity.ISSUE_LABELED, issue, user, data={"label_ids": [la.id for la in added]})


def set_assignees(session: Session, actor: Account, ref: RepoRef, issue: Issue, user_ids: Iterable[int]) -> None:
    user = require_triage(session, actor, ref)
    wanted_ids = {int(i) for i in user_ids}
    current = {a.id: a for a in assignees_of(session, [issue.id or 0])[issue.id or 0]}
    new_ids = [i for i in wanted_ids if i not in current]
    added = chosen_assignees(session, ref, new_ids)
    removed = [current[i] for i in current if i not in wanted_ids]
    assert issue.id is not None
    for person in removed:
        row = session.get(IssueAssignee, (issue.id, person.id))
        if row is not None:
            session.delete(row)
        add_event(session, issue, user.id, "unassigned", {"user_id": person.id, "name": person.name})
    for person in added:
        assert person.id is not None
        session.add(IssueAssignee(issue_id=issue.id, user_id=person.id))
        add_event(session, issue, user.id, "assigned", {"user_id": person.id, "name": person.name})
    if added or removed:
        touch(session, issue)
        session.flush()
    if added:
        record_activity(session, activity.ISSUE_ASSIGNED, issue, user, data={"user_ids": [a.id for a in added]})


def set_milestone(session: Session, actor: Account, ref: RepoRef, issue: Issue, milestone_id: int | None) -> None:
    user = require_triage(session, actor, ref)
    milestone = chosen_milestone(session, ref, milestone_id)
    new_id = milestone.id if milestone else None
    if new_id == issue.milestone_id:
        return
    old = session.get(Milestone, issue.milestone_id) if issue.milestone_id else None
    if old is not None:
        add_event(session, issue, user.id, "demilestoned", {"milestone_id": old.id, "title": old.title})
    if milestone is not None:
        add_event(session, issue, user.id, "milestoned", {"milestone_id": milestone.id, "title": milestone.title})
    issue.milestone_id = new_id
    touch(session, issue)
    session.flush()


def set_due_date(session: Session, actor: Account, ref: RepoRef, issue: Issue, due: date | None) -> None:
    user = require_triage(session, actor, ref)
    if due == issue.due_date:
        return
    issue.due_date = due
    touch(session, issue)
    add_event(session, issue, user.id, "due_date", {"due": due.isoformat() if due else ""})



# --- lock and pin ------------------------------------------------------------------------------------------


def lock_issue(session: Session, actor: Account, ref: RepoRef, issue: Issue, reason: str = "") -> None:
    user = require_triage(session, actor, ref)
    if reason not in LOCK_REASONS:
        raise InvalidInput(N_("Unknown reason for locking."))
    if issue.is_locked:
        return
    issue.is_locked = True
    issue.lock_reason = reason
    session.add(issue)
    add_event(session, issue, user.id, "locked", {"reason": reason})


def unlock_issue(session: Session, actor: Account, ref: RepoRef, issue: Issue) -> None:
    user = require_triage(session, actor, ref)
    if not issue.is_locked:
        return
    issue.is_locked = False
    issue.lock_reason = ""
    session.add(issue)
    add_event(session, issue, user.id, "unlocked")


def pinned_issues(session: Session, ref: RepoRef) -> list[Issue]:
    stmt = (select(Issue).where(Issue.repo_id == ref.repo.id, col(Issue.pin_order).is_not(None),
                                Issue.is_pull == False)  # noqa: E712
            .order_by(col(Issue.pin_order), col(Issue.number)))
    return list(session.exec(stmt))


def pin_issue(session: Session, actor: Account, ref: RepoRef, issue: Issue) -> None:
    user = require_triage(session, actor, ref)
    if issue.is_pull:
        raise InvalidInput(N_("Only issues can be pinned."))
    if issue.pin_order is not None:
        return
    pinned = pinned_issues(session, ref)
    if len(pinned) >= MAX_PINNED:
        raise InvalidInput(N_("At most %(max)s issues can be pinned; unpin one first."), max=MAX_PINNED)
    issue.pin_order = max((p.pin_order or 0 for p in pinned), default=0) + 1
    session.add(issue)
    add_event(session, issue, user.id, "pinned")


def unpin_issue(session: Session, actor: Account, ref: RepoRef, issue: Issue) -> None:
    user = require_triage(session, actor, ref)
    if issue.pin_order is None:
        return
    issue.pin_order = None
    session.add(issue)
    add_event(session, issue, user.id, "unpinned")

