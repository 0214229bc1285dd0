"""API: reviews of a pull request and the comments on its diff.

A review without an ``event`` stays pending (only its author sees it and its comments) until it is submitted with
``POST .../reviews/{id}/events``; with an event it is submitted at once. A comment posted on its own
(``POST .../pulls/{number}/comments``) is published at once, as a one-comment review, like the web's "Add single
comment". The rules are forge.pulls.reviews and forge.pulls.review_comments (the author cannot approve their own
pull request; a locked conversation takes collaborators only); scopes as for pull requests (``read:issue``,
``write:issue``). Dismissing a review by hand is not offered: the forge dismisses stale approvals itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from forge.accounts.models import Account
from forge.errors import Conflict, InvalidInput
from forge.i18n import N_
from forge.pulls import review_comments, reviews
from forge.pulls.models import APPROVED, CHANGES_REQUESTED, COMMENTED, PENDING, PullReview
from forge.repos import services as repos
from forge.wire.pulls import ReviewCommentOut, ReviewOut, review_comment_list, review_out
from web.api.deps import CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Number, Owner, RepoName
from web.api.routes.pulls import find_pull
from web.api.schemas.pulls import ReviewCommentCreate, ReviewCreate, ReviewEvent, ReviewSubmit

router = APIRouter(tags=["pulls"])

ReviewId = Annotated[int, Path(ge=1, le=2_147_483_647)]

_P = "/repos/{owner}/{repo}/pulls/{number}"
VERDICTS: dict[ReviewEvent, str] = {"APPROVE": APPROVED, "REQUEST_CHANGES": CHANGES_REQUESTED, "COMMENT": COMMENTED}


def _side(side: str) -> str:
    return "left" if side == "LEFT" else "right"


@router.get(_P + "/reviews", response_model=list[ReviewOut], responses=LIST_RESPONSES)
def list_reviews(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                 number: Number, page: PageDep) -> list[ReviewOut]:
    """The submitted reviews, oldest first, and the caller's own pending one."""
    base = settings_of(request).public_url()
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number)
        rows = reviews.visible_reviews(session, pull, caller.user)
        link_headers(request, response, page, len(rows))
        return [review_out(session, base, ref, pull, r, number=issue.number) for r in page.slice(rows)]


@router.get(_P + "/reviews/{review_id}", response_model=ReviewOut)
def get_review(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
               review_id: ReviewId) -> ReviewOut:
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number)
        row = reviews.get_review(session, pull, review_id, caller.user)
        return review_out(session, settings_of(request).public_url(), ref, pull, row, number=issue.number)


@router.post(_P + "/reviews", response_model=ReviewOut)
def create_review(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                  body: ReviewCreate) -> ReviewOut:
    """Review the pull request: comments on lines of its diff and, with ``event``, a verdict (the review is then
    submitted). The caller's comments join their pending review if they have one. 409 when ``commit_id`` is not
    the current head; 422 when a comment's lines are not in the diff."""
    settings = settings_of(request)
    user = caller.require_user("write:issue")
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number, write=True)
        if body.commit_id and body.commit_id.lower() != pull.head_sha:
            raise Conflict(N_("New commits were pushed since you loaded the page; reload it and comment again."))
        if body.comments or body.event is None:
            pending = reviews.start_review(session, user, ref, pull, body="" if body.event else body.body)
            git = repos.open_git(settings.repos_dir, ref)
            for c in body.comments:
                review_comments.add_review_comment(
                    session, user, ref, pull, path=c.path, line=c.line, side=_side(c.side), start_line=c.start_line,
                    body=c.body, commit_sha=pull.head_sha, review_id=pending.id, git=git)
        if body.event is None:
            row = reviews.pending_review(session, user, pull)
            assert row is not None
        else:
            row = reviews.submit_review(session, user, ref, pull, state=VERDICTS[body.event], body=body.body)
        return review_out(session, settings.public_url(), ref, pull, row, number=issue.number, reviewer=user)


@router.post(_P + "/reviews/{review_id}/events", response_model=ReviewOut)
def submit_review(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                  review_id: ReviewId, body: ReviewSubmit) -> ReviewOut:
    """Submit the caller's pending review with a verdict (``body`` replaces the text given when it was started,
    if any is sent). 422 when the review was already submitted."""
    user = caller.require_user("write:issue")
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number, write=True)
        row = _own_pending(reviews.get_review(session, pull, review_id, user), user)
        row = reviews.submit_review(session, user, ref, pull, state=VERDICTS[body.event],
                                    body=body.body or row.body)
        return review_out(session, settings_of(request).public_url(), ref, pull, row, number=issue.number,
                          reviewer=user)


@router.delete(_P + "/reviews/{review_id}", status_code=204, response_class=Response)
def delete_review(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                  review_id: ReviewId) -> Response:
    """Discard the caller's pending review and its comments (a submitted review cannot be deleted: 422)."""
    user = caller.require_user("write:issue")
    with db(request) as session:
        _, _, pull = find_pull(session, caller, owner, repo, number, write=True)
        _own_pending(reviews.get_review(session, pull, review_id, user), user)
        reviews.discard_pending(session, user, pull)
    return Response(status_code=204)


def _own_pending(row: PullReview, user: Account) -> PullReview:
    if row.state != PENDING or row.reviewer_id != user.id:
        raise InvalidInput(N_("That review was already submitted; reload the page."))
    return row


@router.get(_P + "/reviews/{review_id}/comments", response_model=list[ReviewCommentOut],
            responses=LIST_RESPONSES)
def list_review_comments(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                         number: Number, review_id: ReviewId, page: PageDep) -> list[ReviewCommentOut]:
    """The comments a review carries, oldest first."""
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number)
        reviews.get_review(session, pull, review_id, caller.user)
        rows = [c for t in review_comments.threads(session, pull, caller.user) for c in t.comments
                if c.review_id == review_id]
        rows.sort(key=lambda c: c.id or 0)
        link_headers(request, response, page, len(rows))
        return review_comment_list(session, settings_of(request).public_url(), ref, pull, page.slice(rows),
                                   number=issue.number)


@router.get(_P + "/comments", response_model=list[ReviewCommentOut], responses=LIST_RESPONSES)
def list_comments(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                  number: Number, page: PageDep) -> list[ReviewCommentOut]:
    """Every comment on the pull request's diff the caller may see, thread by thread, oldest thread first."""
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number)
        rows = [c for t in review_comments.threads(session, pull, caller.user) for c in t.comments]
        link_headers(request, response, page, len(rows))
        return review_comment_list(session, settings_of(request).public_url(), ref, pull, page.slice(rows),
                                   number=issue.number)


@router.post(_P + "/comments", response_model=ReviewCommentOut, status_code=201)
def create_comment(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                   body: ReviewCommentCreate) -> ReviewCommentOut:
    """Comment on lines of the diff at once (or reply to a thread with ``in_reply_to``). 409 when ``commit_id`` is
    not the current head; 422 when the lines are not in the diff."""
    settings = settings_of(request)
    user = caller.require_user("write:issue")
    if body.in_reply_to is None and (not body.path or body.line is None):
        raise InvalidInput(N_("Choose the file and the lines to comment on."))
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number, write=True)
        comment = review_comments.add_review_comment(
            session, user, ref, pull, path=body.path, line=body.line or 0, side=_side(body.side),
            start_line=body.start_line, body=body.body, commit_sha=(body.commit_id or "").lower(),
            in_reply_to=body.in_reply_to, git=repos.open_git(settings.repos_dir, ref))
        return review_comment_list(session, settings.public_url(), ref, pull, [comment], number=issue.number)[0]
