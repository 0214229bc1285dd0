"""Pull requests, reviews and review comments as the API and webhooks show them.

A pull request is an issue row plus a ``pull_request`` row (forge.pulls.models); the JSON joins the two the way
GitHub does: issue fields (number, title, body, user, labels, assignees, milestone) next to the head and base. The
line counts (``commits``, ``additions``, ``deletions``, ``changed_files``) need a diff of the base repository, so
they are filled only when the caller passes ``git`` (the single pull request read, webhook payloads); lists leave
them null rather than diffing every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.errors import NotFound
from forge.git.repository import GitRepo
from forge.issues import models as im
from forge.issues.metadata import assignees_of, labels_of
from forge.pulls import models as pm
from forge.pulls.diffmap import pull_commits, pull_diff
from forge.repos.services import RepoRef, get_repo_by_id
from forge.wire.issues import LabelOut, MilestoneOut, label_out, milestone_list
from forge.wire.repos import RepositoryBrief, repository_brief
from forge.wire.users import UserBrief, user_brief

ReviewState = Literal["PENDING", "COMMENTED", "APPROVED", "CHANGES_REQUESTED", "DISMISSED"]
MergeableState = Literal["checking", "mergeable", "conflict", "empty"]
Side = Literal["LEFT", "RIGHT"]


class PullBranch(BaseModel):
    """One end of a pull request: ``label`` is ``owner:branch`` (GitHub's form)."""

    label: str
    ref: str = Field(description="The branch name.")
    sha: str = Field(description="The head commit; for the base, its tip when mergeability was last computed.")
    repo: RepositoryBrief | None = Field(description="Null when the head repository (a fork) was deleted.")


class PullRequestOut(BaseModel):
    id: int
    number: int
    title: str
    body: str
    state: Literal["open", "closed"]
    draft: bool
    locked: bool
    merged: bool
    merged_at: datetime | None
    merged_by: UserBrief | None
    merge_commit_sha: str | None = Field(description="The commit the base branch moved to when merged.")
    mergeable: bool | None = Field(description="Null while the forge is still computing it.")
    mergeable_state: MergeableState = Field(
        description="checking, mergeable, conflict (the branches conflict) or empty (nothing to merge). Review and "
                    "check requirements are not included: the merge endpoint answers 409 with the reason.")
    maintainer_can_modify: bool
    user: UserBrief | None
    labels: list[LabelOut]
    assignees: list[UserBrief]
    requested_reviewers: list[UserBrief]
    milestone: MilestoneOut | None
    head: PullBranch
    base: PullBranch
    html_url: str
    diff_url: str = Field(description="The pull request's files tab.")
    url: str = Field(description="This pull request in the API.")
    issue_url: str = Field(description="The pull request as an issue in the API.")
    comments: int = Field(description="Conversation comments (not review comments).")
    review_comments: int
    commits: int | None = Field(description="Null in lists (computed for single reads and webhooks).")
    additions: int | None
    deletions: int | None
    changed_files: int | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class ReviewOut(BaseModel):
    id: int
    user: UserBrief | None
    body: str
    state: ReviewState
    commit_id: str
    submitted_at: datetime | None = Field(description="Null while the review is pending.")
    html_url: str
    pull_request_url: str


class ReviewCommentOut(BaseModel):
    id: int
    pull_request_review_id: int | None
    in_reply_to_id: int | None = Field(description="The first comment of the thread, for a reply.")
    user: UserBrief | None
    body: str
    path: str
    side: Side
    line: int
    start_line: int | None = Field(description="First line of a multi-line comment; null for one line.")
    original_line: int
    original_start_line: int | None
    commit_id: str
    original_commit_id: str
    diff_hunk: str
    outdated: bool = Field(description="A later push changed the lines it was written on.")
    resolved: bool = Field(description="Whether the comment's thread is resolved.")
    html_url: str
    pull_request_url: str
    created_at: datetime
    updated_at: datetime


def pull_api_url(base: str, ref: RepoRef, number: int) -> str:
    return f"{base}/api/v1/repos/{ref.full_name}/pulls/{number}"


def pull_html_url(base: str, ref: RepoRef, number: int) -> str:
    return f"{base}/{ref.full_name}/pulls/{number}"


def _accounts(session: Session, ids: set[int | None] | list[int]) -> dict[int, Account]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(wanted))) if a.id is not None}


def _brief(account: Account | None, base: str) -> UserBrief | None:
    return user_brief(account, base) if account is not None else None


def _mergeable(pull: pm.PullRequest) -> bool | None:
    if pull.merge_status == pm.CHECKING:
        return None
    return pull.merge_status == pm.MERGEABLE


def _counts(git: GitRepo, pull: pm.PullRequest) -> tuple[int, int, int, int]:
    """(commits, additions, deletions, changed files) from the merge base to the head."""
    if not pull.head_sha or not pull.merge_base:
        return 0, 0, 0, 0
    try:
        commits = pull_commits(git, pull, 0)[1]
        diff = pull_diff(git, pull.merge_base, pull.head_sha)
    except NotFound:
        return 0, 0, 0, 0
    return commits, diff.additions, diff.deletions, diff.files_changed


def _review_comment_counts(session: Session, pull_ids: list[int]) -> dict[int, int]:
    """Pull request id -> its published review comments (a pending review's comments are its author's alone)."""
    if not pull_ids:
        return {}
    pending = select(pm.PullReview.id).where(col(pm.PullReview.pull_id).in_(pull_ids),
                                             pm.PullReview.state == pm.PENDING)
    rows = session.exec(
        select(pm.ReviewComment.pull_id, func.count())
        .where(col(pm.ReviewComment.pull_id).in_(pull_ids),
               or_(col(pm.ReviewComment.review_id).is_(None), col(pm.ReviewComment.review_id).not_in(pending)))
        .group_by(col(pm.ReviewComment.pull_id)))
    return {pull_id: int(n) for pull_id, n in rows}


def _requested_reviewers(session: Session, pull_ids: list[int]) -> dict[int, list[int]]:
    """Pull request id -> the users asked for a review, in the order they were asked."""
    result: dict[int, list[int]] = {i: [] for i in pull_ids}
    if pull_ids:
        for pull_id, user_id in session.exec(
                select(pm.ReviewRequest.pull_id, pm.ReviewRequest.user_id)
                .where(col(pm.ReviewRequest.pull_id).in_(pull_ids)).order_by(col(pm.ReviewRequest.id))):
            result[pull_id].append(user_id)
    return result


def pull_list(session: Session, base: str, ref: RepoRef, rows: Sequence[tuple[im.Issue, pm.PullRequest]], *,
              git: GitRepo | None = None) -> list[PullRequestOut]:
    """Several pull requests of ``ref`` (issue and pull request rows), with one query per kind of related object;
    with ``git`` (``ref``'s repository) the line counts too."""
    issue_ids = [issue.id for issue, _ in rows if issue.id is not None]
    labels = labels_of(session, issue_ids)
    assignees = assignees_of(session, issue_ids)
    pull_ids = [pull.id for _, pull in rows if pull.id is not None]
    reviewers = _requested_reviewers(session, pull_ids)
    review_comment_counts = _review_comment_counts(session, pull_ids)
    people = _accounts(session, {i for issue, pull in rows for i in (issue.author_id, pull.merged_by_id)}
                       | {i for ids in reviewers.values() for i in ids})
    milestone_ids = {issue.milestone_id for issue, _ in rows if issue.milestone_id is not None}
    milestones = list(session.exec(select(im.Milestone).where(col(im.Milestone.id).in_(milestone_ids)))) \
        if milestone_ids else []
    milestones_by_id = {m.id: m for m in milestone_list(session, base, ref, milestones)}
    heads = {i: get_repo_by_id(session, i) for i in {pull.head_repo_id for _, pull in rows} if i is not None}
    result = []
    for issue, pull in rows:
        head = heads.get(pull.head_repo_id) if pull.head_repo_id is not None else None
        head_owner = head.owner.name if head is not None else ref.owner.name
        counts: tuple[int | None, ...] = _counts(git, pull) if git is not None else (None, None, None, None)
        html = pull_html_url(base, ref, issue.number)
        result.append(PullRequestOut(
            id=pull.id or 0,
            number=issue.number,
            title=issue.title,
            body=issue.body,
            state="open" if issue.state == im.OPEN else "closed",
            draft=pull.is_draft,
            locked=issue.is_locked,
            merged=pull.merged_at is not None,
            merged_at=pull.merged_at,
            merged_by=_brief(people.get(pull.merged_by_id or 0), base),
            merge_commit_sha=pull.merge_commit_sha or None,
            mergeable=_mergeable(pull),
            mergeable_state=pull.merge_status,  # type: ignore[arg-type]  # one of the four statuses
            maintainer_can_modify=pull.allow_maintainer_edit,
            user=_brief(people.get(issue.author_id or 0), base),
            labels=[label_out(label, base, ref=ref) for label in labels.get(issue.id or 0, [])],
            assignees=[user_brief(a, base) for a in assignees.get(issue.id or 0, [])],
            requested_reviewers=[user_brief(people[i], base) for i in reviewers.get(pull.id or 0, []) if i in people],
            milestone=milestones_by_id.get(issue.milestone_id) if issue.milestone_id is not None else None,
            head=PullBranch(label=f"{head_owner}:{pull.head_branch}", ref=pull.head_branch, sha=pull.head_sha,
                            repo=repository_brief(head, base) if head is not None else None),
            base=PullBranch(label=f"{ref.owner.name}:{pull.base_branch}", ref=pull.base_branch, sha=pull.base_sha,
                            repo=repository_brief(ref, base)),
            html_url=html,
            diff_url=f"{html}/files",
            url=pull_api_url(base, ref, issue.number),
            issue_url=f"{base}/api/v1/repos/{ref.full_name}/issues/{issue.number}",
            comments=issue.comment_count,
            review_comments=review_comment_counts.get(pull.id or 0, 0),
            commits=counts[0],
            additions=counts[1],
            deletions=counts[2],
            changed_files=counts[3],
            created_at=issue.created_at,
            updated_at=max(issue.updated_at, pull.updated_at),
            closed_at=issue.closed_at,
        ))
    return result


def pull_out(session: Session, base: str, ref: RepoRef, pull: pm.PullRequest, *, issue: im.Issue | None = None,
             git: GitRepo | None = None) -> PullRequestOut:
    """The JSON of ``pull`` (a pull request of ``ref``); with ``git`` (``ref``'s repository) the line counts too."""
    if issue is None:
        issue = session.get(im.Issue, pull.issue_id)
        assert issue is not None
    return pull_list(session, base, ref, [(issue, pull)], git=git)[0]


def review_out(session: Session, base: str, ref: RepoRef, pull: pm.PullRequest, row: pm.PullReview, *,
           number: int | None = None, reviewer: Account | None = None) -> ReviewOut:
    """The JSON of review ``row`` of ``pull``. ``state`` is upper case as in GitHub's REST API (webhook payloads
    lower it, as GitHub's do)."""
    if number is None:
        issue = session.get(im.Issue, pull.issue_id)
        assert issue is not None
        number = issue.number
    if reviewer is None and row.reviewer_id is not None:
        reviewer = session.get(Account, row.reviewer_id)
    return ReviewOut(
        id=row.id or 0,
        user=_brief(reviewer, base),
        body=row.body,
        state=row.state.upper(),  # type: ignore[arg-type]  # the five review states
        commit_id=row.commit_sha,
        submitted_at=row.submitted_at,
        html_url=f"{pull_html_url(base, ref, number)}#review-{row.id}",
        pull_request_url=pull_api_url(base, ref, number),
    )


def review_comment_out(session: Session, base: str, ref: RepoRef, pull: pm.PullRequest, row: pm.ReviewComment, *,
                   number: int | None = None, author: Account | None = None,
                   resolved: bool | None = None) -> ReviewCommentOut:
    """The JSON of review comment ``row``. ``resolved`` (its thread's state) is looked up when not given."""
    if number is None:
        issue = session.get(im.Issue, pull.issue_id)
        assert issue is not None
        number = issue.number
    if author is None and row.author_id is not None:
        author = session.get(Account, row.author_id)
    root_id = row.thread_id if row.thread_id is not None else row.id
    if resolved is None:
        root = row if root_id == row.id else session.get(pm.ReviewComment, root_id)
        resolved = root is not None and root.resolved_at is not None
    return ReviewCommentOut(
        id=row.id or 0,
        pull_request_review_id=row.review_id,
        in_reply_to_id=root_id if root_id != row.id else None,
        user=_brief(author, base),
        body=row.body,
        path=row.path,
        side="LEFT" if row.side == "left" else "RIGHT",
        line=row.line,
        start_line=row.start_line,
        original_line=row.original_line,
        original_start_line=row.original_start_line,
        commit_id=row.commit_sha,
        original_commit_id=row.original_commit_sha,
        diff_hunk=row.diff_hunk,
        outdated=row.outdated,
        resolved=resolved,
        html_url=f"{pull_html_url(base, ref, number)}/files#review-comment-{row.id}",
        pull_request_url=pull_api_url(base, ref, number),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def review_comment_list(session: Session, base: str, ref: RepoRef, pull: pm.PullRequest, rows: list[pm.ReviewComment],
                    *, number: int) -> list[ReviewCommentOut]:
    """Several comments of ``pull``, with their authors and threads read in two queries."""
    authors = _accounts(session, {r.author_id for r in rows})
    root_ids = {r.thread_id or r.id for r in rows}
    roots = {c.id: c for c in session.exec(select(pm.ReviewComment).where(col(pm.ReviewComment.id).in_(root_ids)))}
    result = []
    for row in rows:
        root = roots.get(row.thread_id or row.id)
        result.append(review_comment_out(session, base, ref, pull, row, number=number,
                                     author=authors.get(row.author_id or 0),
                                     resolved=root is not None and root.resolved_at is not None))
    return result
