"""API: comments in issue and pull request conversations: list (one issue's, or the whole repository's), write,
read, edit and delete.

The services are the web's (forge.issues.comments): the author or people with write access edit and delete, and a
locked conversation refuses comments from anyone without write access.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select

from forge.errors import NotFound
from forge.i18n import N_
from forge.issues import comments as comment_service
from forge.issues.models import Issue, IssueComment
from forge.repos.services import RepoRef
from forge.wire.issues import CommentOut, comment_list, comment_out
from web.api.deps import Caller, CallerDep, db
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Number, Owner, RepoName, issue_repo
from web.api.routes.issues import base_url, issue_in
from web.api.schemas.issues import CommentBody

router = APIRouter(tags=["issues"])

CommentId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The comment's id.")]
Since = Annotated[datetime | None, Query(description="Only comments updated at or after this time.")]
_C = "/repos/{owner}/{repo}/issues/comments/{comment_id:int}"


def _page(request: Request, response: Response, page: PageDep, session: Session, ref: RepoRef,
          *conditions: ColumnElement[bool]) -> list[CommentOut]:
    stmt = select(IssueComment).join(Issue, col(Issue.id) == IssueComment.issue_id).where(
        Issue.repo_id == ref.repo.id, *conditions)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    link_headers(request, response, page, int(total))
    rows = session.exec(stmt.order_by(col(IssueComment.id)).offset(page.offset).limit(page.limit)).all()
    return comment_list(session, base_url(request), ref, rows)


def _since(since: datetime | None) -> list[ColumnElement[bool]]:
    """A naive time is UTC; a time too early to convert to UTC means "from the start"."""
    if since is None:
        return []
    try:
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    except OverflowError:
        return []
    return [col(IssueComment.updated_at) >= since]


@router.get("/repos/{owner}/{repo}/issues/{number:int}/comments", response_model=list[CommentOut],
            responses=LIST_RESPONSES)
def list_issue_comments(request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner,
                        repo: RepoName, number: Number, since: Since = None) -> list[CommentOut]:
    """One conversation's comments, oldest first."""
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number)
        return _page(request, response, page, session, ref, col(IssueComment.issue_id) == issue.id, *_since(since))


@router.get("/repos/{owner}/{repo}/issues/comments", response_model=list[CommentOut],
            responses=LIST_RESPONSES)
def list_repo_comments(request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner,
                       repo: RepoName, since: Since = None) -> list[CommentOut]:
    """Every comment in the repository's issues and pull requests, oldest first."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo)
        return _page(request, response, page, session, ref, *_since(since))


@router.post("/repos/{owner}/{repo}/issues/{number:int}/comments", response_model=CommentOut, status_code=201)
def create_comment(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                   number: Number, data: CommentBody) -> CommentOut:
    """Comment; a locked conversation takes comments only from people with write access."""
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number, "write:issue")
        comment = comment_service.add_comment(session, caller.require_user("write:issue"), ref, issue, data.body)
        out = comment_out(session, base_url(request), ref, comment)
    response.headers["Location"] = out.url
    return out


def _comment(session: Session, caller: Caller, owner: str, repo: str, comment_id: int,
             scope: str = "read:issue") -> tuple[RepoRef, Issue, IssueComment]:
    ref = issue_repo(session, caller, owner, repo, scope)
    comment = session.get(IssueComment, comment_id)
    issue = session.get(Issue, comment.issue_id) if comment is not None else None
    if comment is None or issue is None or issue.repo_id != ref.repo.id:
        raise NotFound(N_("That comment does not exist."))
    return ref, issue, comment


@router.get(_C, response_model=CommentOut)
def get_comment(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                comment_id: CommentId) -> CommentOut:
    with db(request) as session:
        ref, _, comment = _comment(session, caller, owner, repo, comment_id)
        return comment_out(session, base_url(request), ref, comment)


@router.patch(_C, response_model=CommentOut)
def edit_comment(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, comment_id: CommentId,
                 data: CommentBody) -> CommentOut:
    """Change a comment's text (its author, or people with write access)."""
    with db(request) as session:
        ref, issue, comment = _comment(session, caller, owner, repo, comment_id, "write:issue")
        comment_service.edit_comment(session, caller.require_user("write:issue"), ref, issue, comment, data.body)
        return comment_out(session, base_url(request), ref, comment)


@router.delete(_C, status_code=204, response_class=Response)
def delete_comment(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                   comment_id: CommentId) -> Response:
    """Delete a comment and its reactions (its author, or people with write access)."""
    with db(request) as session:
        ref, issue, comment = _comment(session, caller, owner, repo, comment_id, "write:issue")
        comment_service.delete_comment(session, caller.require_user("write:issue"), ref, issue, comment)
    return Response(status_code=204)
