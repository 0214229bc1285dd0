"""Issues, comments, labels and milestones as the API and webhooks show them.

Builders take ``(session, base, ref, ...)`` and look up what they need themselves (authors, labels, assignees,
milestone, counts); the ``*_list`` variants do it in one query per kind for a whole page, so a list of 100 issues
costs a handful of queries, not hundreds. A pull request is an issue too: its ``pull_request`` field says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.issues.metadata import assignees_of, labels_of
from forge.issues.milestones import counts as milestone_counts
from forge.issues.models import CLOSED, MERGED, Issue, IssueComment, Label, Milestone
from forge.repos.services import RepoRef
from forge.wire.users import UserBrief, user_brief


class LabelOut(BaseModel):
    id: int
    name: str
    color: str = Field(description="#rrggbb")
    description: str
    is_org_label: bool = Field(description="Defined by the organisation, usable in all its repositories.")
    url: str


class MilestoneOut(BaseModel):
    id: int
    title: str
    description: str
    state: Literal["open", "closed"]
    open_issues: int
    closed_issues: int
    due_on: date | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    html_url: str
    url: str


class PullRequestLink(BaseModel):
    """Present on an issue that is a pull request."""

    html_url: str
    url: str
    merged: bool
    merged_at: datetime | None


class IssueOut(BaseModel):
    id: int
    number: int
    title: str
    body: str
    state: Literal["open", "closed"]
    state_reason: str | None = Field(description="completed, not_planned or merged when closed; else null.")
    user: UserBrief | None = Field(description="The author; null when their account was deleted.")
    labels: list[LabelOut]
    assignees: list[UserBrief]
    milestone: MilestoneOut | None
    comments: int
    locked: bool
    active_lock_reason: str | None
    pull_request: PullRequestLink | None
    html_url: str
    url: str
    repository_url: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: UserBrief | None
    due_date: date | None


class CommentOut(BaseModel):
    id: int
    body: str
    user: UserBrief | None = Field(description="The author; null when their account was deleted.")
    html_url: str
    issue_url: str = Field(description="The API URL of the issue or pull request the comment belongs to.")
    url: str
    created_at: datetime
    updated_at: datetime


def api_repo_url(base: str, ref: RepoRef) -> str:
    return f"{base}/api/v1/repos/{ref.full_name}"


def _page_url(base: str, ref: RepoRef, issue: Issue) -> str:
    return f"{base}/{ref.full_name}/{'pulls' if issue.is_pull else 'issues'}/{issue.number}"


def _accounts(session: Session, ids: set[int | None]) -> dict[int, Account]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(wanted))) if a.id is not None}


# --- labels ------------------------------------------------------------------------------------------------


def label_out(label: Label, base: str, *, ref: RepoRef | None = None, org: Account | None = None) -> LabelOut:
    """A repository's label (``ref``) or an organisation's (``org``, or the owner of ``ref``)."""
    name = quote(label.name, safe="")
    if label.org_id is not None:
        org_name = org.name if org is not None else ref.owner.name if ref is not None else ""
        url = f"{base}/api/v1/orgs/{org_name}/labels/{name}"
    else:
        assert ref is not None
        url = f"{api_repo_url(base, ref)}/labels/{name}"
    return LabelOut(id=label.id or 0, name=label.name, color=label.color, description=label.description,
                    is_org_label=label.org_id is not None, url=url)


# --- milestones --------------------------------------------------------------------------------------------


def _milestone(milestone: Milestone, base: str, ref: RepoRef, open_issues: int, closed_issues: int) -> MilestoneOut:
    return MilestoneOut(
        id=milestone.id or 0, title=milestone.title, description=milestone.description,
        state="closed" if milestone.state == CLOSED else "open", open_issues=open_issues,
        closed_issues=closed_issues, due_on=milestone.due_on, created_at=milestone.created_at,
        updated_at=milestone.updated_at, closed_at=milestone.closed_at,
        html_url=f"{base}/{ref.full_name}/milestones/{milestone.id}",
        url=f"{api_repo_url(base, ref)}/milestones/{milestone.id}",
    )


def milestone_list(session: Session, base: str, ref: RepoRef, milestones: Sequence[Milestone]) -> list[MilestoneOut]:
    by_id = milestone_counts(session, [m.id for m in milestones if m.id is not None])
    return [_milestone(m, base, ref, *by_id.get(m.id or 0, (0, 0))) for m in milestones]


def milestone_out(session: Session, base: str, ref: RepoRef, milestone: Milestone) -> MilestoneOut:
    return milestone_list(session, base, ref, [milestone])[0]


# --- issues ------------------------------------------------------------------------------------------------


def issue_list(session: Session, base: str, ref: RepoRef, issues: Sequence[Issue]) -> list[IssueOut]:
    """Several issues of one repository, with one query per kind of related object."""
    ids = [i.id for i in issues if i.id is not None]
    labels = labels_of(session, ids)
    assignees = assignees_of(session, ids)
    accounts = _accounts(session, {i.author_id for i in issues} | {i.closed_by_id for i in issues})
    milestone_ids = {i.milestone_id for i in issues if i.milestone_id is not None}
    milestones = list(session.exec(select(Milestone).where(col(Milestone.id).in_(milestone_ids)))) \
        if milestone_ids else []
    milestones_by_id = {m.id: m for m in milestone_list(session, base, ref, milestones)}
    api = api_repo_url(base, ref)
    result = []
    for issue in issues:
        author = accounts.get(issue.author_id) if issue.author_id is not None else None
        closer = accounts.get(issue.closed_by_id) if issue.closed_by_id is not None else None
        pull = None
        if issue.is_pull:
            merged = issue.state_reason == MERGED
            pull = PullRequestLink(html_url=_page_url(base, ref, issue), url=f"{api}/pulls/{issue.number}",
                                   merged=merged, merged_at=issue.closed_at if merged else None)
        result.append(IssueOut(
            id=issue.id or 0, number=issue.number, title=issue.title, body=issue.body,
            state="closed" if issue.state == CLOSED else "open", state_reason=issue.state_reason or None,
            user=user_brief(author, base) if author else None,
            labels=[label_out(la, base, ref=ref) for la in labels.get(issue.id or 0, [])],
            assignees=[user_brief(a, base) for a in assignees.get(issue.id or 0, [])],
            milestone=milestones_by_id.get(issue.milestone_id) if issue.milestone_id is not None else None,
            comments=issue.comment_count, locked=issue.is_locked,
            active_lock_reason=(issue.lock_reason or None) if issue.is_locked else None, pull_request=pull,
            html_url=_page_url(base, ref, issue), url=f"{api}/issues/{issue.number}", repository_url=api,
            created_at=issue.created_at, updated_at=issue.updated_at, closed_at=issue.closed_at,
            closed_by=user_brief(closer, base) if closer else None, due_date=issue.due_date,
        ))
    return result


def issue_out(session: Session, base: str, ref: RepoRef, issue: Issue) -> IssueOut:
    return issue_list(session, base, ref, [issue])[0]


# --- comments ----------------------------------------------------------------------------------------------


def comment_list(session: Session, base: str, ref: RepoRef, comments: Sequence[IssueComment]) -> list[CommentOut]:
    """Comments of one repository's issues (possibly of several issues)."""
    issue_ids = {c.issue_id for c in comments}
    issues = {i.id: i for i in session.exec(select(Issue).where(col(Issue.id).in_(issue_ids)))} if issue_ids else {}
    accounts = _accounts(session, {c.author_id for c in comments})
    api = api_repo_url(base, ref)
    result = []
    for comment in comments:
        issue = issues[comment.issue_id]
        author = accounts.get(comment.author_id) if comment.author_id is not None else None
        result.append(CommentOut(
            id=comment.id or 0, body=comment.body, user=user_brief(author, base) if author else None,
            html_url=f"{_page_url(base, ref, issue)}#comment-{comment.id}",
            issue_url=f"{api}/issues/{issue.number}", url=f"{api}/issues/comments/{comment.id}",
            created_at=comment.created_at, updated_at=comment.updated_at,
        ))
    return result


def comment_out(session: Session, base: str, ref: RepoRef, comment: IssueComment) -> CommentOut:
    return comment_list(session, base, ref, [comment])[0]
