"""Issues themselves: numbering, opening, editing, closing and reopening, and how every change is written down.

Pull requests are issues too (``is_pull``), so this also serves a pull request's conversation; what only pull
requests have lives in forge.pulls. Every change writes its timeline entry (``add_event``) and its activity row
(``record_activity``, forge.activity) in the caller's transaction; the other issue modules (comments, triage,
reactions) and forge.pulls write theirs with the same two functions, so the timeline and the notifications stay in
step. Who may do what is decided in forge.issues.access.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from forge import activity
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound
from forge.i18n import N_
from forge.issues import attachments, mentions, references
from forge.issues.access import can_triage, require_author_or_triage, require_read
from forge.issues.metadata import chosen_assignees, chosen_labels, chosen_milestone
from forge.issues.models import (
    CLOSED,
    COMPLETED,
    MERGED,
    NOT_PLANNED,
    OPEN,
    Issue,
    IssueAssignee,
    IssueCounter,
    IssueEvent,
    IssueLabel,
)
from forge.repos.services import RepoRef

MAX_TITLE = 255
MAX_BODY = 65_536
CLOSE_REASONS = (COMPLETED, NOT_PLANNED)


# --- writing a change down ---------------------------------------------------------------------------------


def add_event(session: Session, issue: Issue, actor_id: int | None, kind: str,
              data: dict[str, Any] | None = None) -> IssueEvent:
    """Add a timeline entry (see the contract's list of kinds and their ``data``)."""
    assert issue.id is not None
    event = IssueEvent(issue_id=issue.id, actor_id=actor_id, kind=kind, data=data or {})
    session.add(event)
    session.flush()
    return event


def touch(session: Session, issue: Issue) -> None:
    """Mark the issue as changed now (lists sort by it)."""
    issue.updated_at = utcnow()
    session.add(issue)


def record_activity(session: Session, kind: str, issue: Issue, actor: Account | None, *,
                    comment_id: int | None = None, data: dict[str, Any] | None = None) -> None:
    """The activity row (forge.activity) that notifications and feeds are made from."""
    activity.record(session, kind, repo_id=issue.repo_id, issue_id=issue.id, actor_id=actor.id if actor else None,
                    comment_id=comment_id, data=data)


# --- validation --------------------------------------------------------------------------------------------


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput(N_("The title cannot be empty."))
    if len(title) > MAX_TITLE:
        raise InvalidInput(N_("The title may be at most %(max)s characters long."), max=MAX_TITLE)
    return title


def clean_body(body: str, *, required: bool = False) -> str:
    body = body.replace("\r\n", "\n").rstrip()
    if required and not body.strip():
        raise InvalidInput(N_("The comment cannot be empty."))
    if len(body) > MAX_BODY:
        raise InvalidInput(N_("The text may be at most %(max)s characters long."), max=MAX_BODY)
    return body


# --- numbers and lookup ------------------------------------------------------------------------------------


def _next_number(session: Session, repo_id: int) -> int:
    """The next number of the repository's shared issue and pull request sequence (an UPDATE row lock)."""
    for _ in range(3):
        bumped = session.execute(
            update(IssueCounter).where(col(IssueCounter.repo_id) == repo_id)
            .values(last_number=col(IssueCounter.last_number) + 1)
        )
        if bumped.rowcount:  # type: ignore[attr-defined]
            session.expire_all()
            number = session.exec(select(IssueCounter.last_number).where(IssueCounter.repo_id == repo_id)).one()
            return int(number)
        try:
            with session.begin_nested():
                session.add(IssueCounter(repo_id=repo_id, last_number=1))
            return 1
        except IntegrityError:
            continue  # someone created the counter at the same time: bump theirs
    raise RuntimeError("could not allocate an issue number")


def get_issue(session: Session, ref: RepoRef, number: int) -> Issue:
    issue = session.exec(select(Issue).where(Issue.repo_id == ref.repo.id, Issue.number == number)).first()
    if issue is None:
        raise NotFound(N_("There is no issue or pull request #%(number)s in this repository."), number=number)
    return issue


def find_issue(session: Session, repo_id: int, number: int) -> Issue | None:
    return session.exec(select(Issue).where(Issue.repo_id == repo_id, Issue.number == number)).first()


# --- open and edit -----------------------------------------------------------------------------------------


def create_issue(
    session: Session,
    actor: Account,
    ref: RepoRef,
    *,
    title: str,
    body: str = "",
    label_ids: Sequence[int] = (),
    assignee_ids: Sequence[int] = (),
    milestone_id: int | None = None,
    due_date: date | None = None,
    is_pull: bool = False,
    template_label_ids: Sequence[int] = (),
) -> Issue:
    """Open an issue (or the issue half of a pull request). Labels, assignees, milestone and due date are kept
    only from people who may triage (others' choices are ignored, as on GitHub), except ``template_label_ids``:
    the labels an issue template names, which apply whoever uses the template."""
    user = require_read(session, actor, ref)
    title = clean_title(title)
    body = clean_body(body)
    triage = can_triage(session, user, ref)
    labels = chosen_labels(session, ref, [*(label_ids if triage else ()), *template_label_ids])
    assignees = chosen_assignees(session, ref, assignee_ids) if triage else []
    milestone = chosen_milestone(session, ref, milestone_id) if triage else None
    assert ref.repo.id is not None
    issue = Issue(
        repo_id=ref.repo.id, number=_next_number(session, ref.repo.id), is_pull=is_pull, title=title, body=body,
        author_id=user.id, milestone_id=milestone.id if milestone else None, due_date=due_date if triage else None,
    )
    session.add(issue)
    session.flush()
    assert issue.id is not None
    # The timeline shows what the issue started with, as GitHub does ("added the bug label").
    for label in labels:
        assert label.id is not None
        session.add(IssueLabel(issue_id=issue.id, label_id=label.id))
        add_event(session, issue, user.id, "labeled", {"label_id": label.id, "name": label.name, "color": label.color})
    for assignee in assignees:
        assert assignee.id is not None
        session.add(IssueAssignee(issue_id=issue.id, user_id=assignee.id))
        add_event(session, issue, user.id, "assigned", {"user_id": assignee.id, "name": assignee.name})
    if milestone is not None:
        add_event(session, issue, user.id, "milestoned", {"milestone_id": milestone.id, "title": milestone.title})
    session.flush()
    if not is_pull:
        record_activity(session, activity.ISSUE_OPENED, issue, user)
    if assignees:
        record_activity(session, activity.ISSUE_ASSIGNED, issue, user, data={"user_ids": [a.id for a in assignees]})
    if labels:
        record_activity(session, activity.ISSUE_LABELED, issue, user, data={"label_ids": [la.id for la in labels]})
    mentions.record_mentions(session, user, ref, issue, f"{title}\n\n{body}")
    references.cross_reference(session, user, ref, issue, body)
    attachments.claim(session, ref, issue, body)
    return issue


def edit_issue(session: Session, actor: Account, ref: RepoRef, issue: Issue, *, title: str | None = None,
               body: str | None = None) -> None:
    """Change the title and/or body (the author, or WRITE access). A new title is a ``renamed`` entry; people newly
    mentioned in the body are notified and issues it newly references get a cross-reference."""
    user = require_author_or_triage(session, actor, ref, issue.author_id)
    changed = False
    if title is not None:
        title = clean_title(title)
        if title != issue.title:
            add_event(session, issue, user.id, "renamed", {"from": issue.title, "to": title})
            issue.title = title
            changed = True
    if body is not None:
        body = clean_body(body)
        if body != issue.body:
            previous = issue.body
            issue.body = body
            changed = True
            mentions.record_mentions(session, user, ref, issue, body, previous=previous)
            references.cross_reference(session, user, ref, issue, body)
            attachments.claim(session, ref, issue, body)
    if changed:
        touch(session, issue)
        session.flush()
        record_activity(session, activity.ISSUE_EDITED, issue, user)


# --- close and reopen --------------------------------------------------------------------------------------


def close_issue(
    session: Session,
    actor: Account | None,
    ref: RepoRef,
    issue: Issue,
    *,
    reason: str = COMPLETED,
    commit_sha: str = "",
    pull_number: int | None = None,
    check_permission: bool = True,
) -> bool:
    """Close ``issue`` (False when it was already closed). ``reason``: completed, not_planned, or merged (a pull
    request, by forge.pulls). ``commit_sha``/``pull_number`` say what closed it ("closed this in abc1234")."""
    if check_permission:
        require_author_or_triage(session, actor, ref, issue.author_id)
    if reason not in (*CLOSE_REASONS, MERGED):
        raise InvalidInput(N_("Unknown reason for closing."))
    if issue.state == CLOSED:
        return False
    issue.state = CLOSED
    issue.state_reason = reason
    issue.closed_at = utcnow()
    issue.closed_by_id = actor.id if actor else None
    touch(session, issue)
    data: dict[str, Any] = {"reason": reason}
    act: dict[str, Any] = {"reason": reason}
    if commit_sha:
        data["commit"] = commit_sha
        act["by_commit"] = commit_sha
    if pull_number is not None:
        data["pull"] = pull_number
        act["by_pull"] = pull_number
    add_event(session, issue, actor.id if actor else None, "closed", data)
    record_activity(session, activity.ISSUE_CLOSED, issue, actor, data=act)
    return True


def reopen_issue(session: Session, actor: Account, ref: RepoRef, issue: Issue) -> bool:
    user = require_author_or_triage(session, actor, ref, issue.author_id)
    if issue.state == OPEN:
        return False
    if issue.state_reason == MERGED:
        raise InvalidInput(N_("A merged pull request cannot be reopened."))
    issue.state = OPEN
    issue.state_reason = ""
    issue.closed_at = None
    issue.closed_by_id = None
    touch(session, issue)
    add_event(session, issue, user.id, "reopened")
    record_activity(session, activity.ISSUE_REOPENED, issue, user)
    return True

