"""Review requests and review verdicts on a pull request: asking people for a review, a reviewer's pending
review and its submission with a verdict, which verdict stands for each reviewer, and dismissing approvals a push
made stale.

Rules, as on GitHub:

* anyone who can read the repository (and is signed in) may submit a review; only the verdicts of people with write
  access count towards required approvals (forge.pulls.gate decides that);
* the author cannot approve their own pull request or request changes on it;
* review requests are made by the author or anyone with write access, and end when the reviewer submits a review.

The comments a review carries and their threads are forge.pulls.review_comments; suggested changes are
forge.pulls.suggestions; threads following their lines after a push, forge.pulls.outdated.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, delete, select

from forge import activity
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.issues import models as im
from forge.permissions import Access, repo_access, require_repo_access
from forge.pulls import services as pulls
from forge.pulls.models import (
    APPROVED,
    CHANGES_REQUESTED,
    COMMENTED,
    DISMISSED,
    PENDING,
    PullRequest,
    PullReview,
    ReviewComment,
    ReviewRequest,
)
from forge.pulls.review_comments import check_body, issue_of, may_comment, publish, touch
from forge.repos.services import RepoRef

VERDICTS = (COMMENTED, APPROVED, CHANGES_REQUESTED)


# --- review requests ---------------------------------------------------------------------------------------


def request_review(session: Session, actor: Account, ref: RepoRef, pull: PullRequest,
                   user_ids: list[int]) -> list[int]:
    """Ask ``user_ids`` for a review (again, for someone who reviewed already: a re-request). Only the author or
    someone with write access may; each reviewer must be able to read the repository and not be the author.
    Returns who was asked."""
    from forge.issues import services as issues

    issue = issue_of(session, pull)
    require_repo_access(session, actor, ref.repo, Access.READ)
    if not pulls.may_edit(session, actor, ref, issue):
        raise PermissionDenied(N_("Only the author or someone with write access can request reviews."))
    asked: list[int] = []
    for user_id in dict.fromkeys(user_ids):
        user = session.get(Account, user_id)
        if user is None or user.is_org or not user.is_active or user.is_blocked:
            raise InvalidInput(N_("There is no such user to ask for a review."))
        if user.id == issue.author_id:
            raise InvalidInput(N_("%(name)s wrote this pull request and cannot review it."), name=user.name)
        if repo_access(session, user, ref.repo) < Access.READ:
            raise InvalidInput(N_("%(name)s cannot see this repository."), name=user.name)
        existing = session.exec(select(ReviewRequest).where(ReviewRequest.pull_id == pull.id,
                                                            ReviewRequest.user_id == user.id)).first()
        if existing is not None:
            continue
        assert pull.id is not None and user.id is not None
        session.add(ReviewRequest(pull_id=pull.id, user_id=user.id, requested_by_id=actor.id))
        issues.add_event(session, issue, actor.id, "review_requested", {"user_id": user.id, "name": user.name})
        asked.append(user.id)
    if asked:
        activity.record(session, activity.PULL_REVIEW_REQUESTED, repo_id=pull.base_repo_id, issue_id=issue.id,
                        actor_id=actor.id, data={"user_ids": asked})
        touch(session, issue, pull)
    session.flush()
    return asked


def remove_review_request(session: Session, actor: Account, ref: RepoRef, pull: PullRequest,
                          user_ids: list[int]) -> list[int]:
    """Withdraw review requests; returns whose were withdrawn."""
    from forge.issues import services as issues

    issue = issue_of(session, pull)
    require_repo_access(session, actor, ref.repo, Access.READ)
    if not pulls.may_edit(session, actor, ref, issue):
        raise PermissionDenied(N_("Only the author or someone with write access can request reviews."))
    removed: list[int] = []
    for user_id in dict.fromkeys(user_ids):
        row = session.exec(select(ReviewRequest).where(ReviewRequest.pull_id == pull.id,
                                                       ReviewRequest.user_id == user_id)).first()
        if row is None:
            continue
        user = session.get(Account, user_id)
        session.delete(row)
        issues.add_event(session, issue, actor.id, "review_request_removed",
                         {"user_id": user_id, "name": user.name if user else ""})
        removed.append(user_id)
    session.flush()
    return removed


def requested_reviewer_ids(session: Session, pull: PullRequest) -> list[int]:
    return list(session.exec(select(ReviewRequest.user_id).where(ReviewRequest.pull_id == pull.id)
                             .order_by(col(ReviewRequest.id))))


def request_counts(session: Session, items: list[PullRequest]) -> dict[int, int]:
    """Pull request id -> how many review requests are open on it (a list page shows the count)."""
    ids = [p.id for p in items if p.id is not None]
    if not ids:
        return {}
    counts: dict[int, int] = {}
    for pull_id in session.exec(select(ReviewRequest.pull_id).where(col(ReviewRequest.pull_id).in_(ids))):
        counts[pull_id] = counts.get(pull_id, 0) + 1
    return counts


# --- reviews -----------------------------------------------------------------------------------------------


def pending_review(session: Session, actor: Account, pull: PullRequest, *, create: bool = False) -> PullReview | None:
    """``actor``'s unsubmitted review of ``pull`` (made when ``create`` and there is none)."""
    review = session.exec(select(PullReview).where(PullReview.pull_id == pull.id,
                                                   PullReview.reviewer_id == actor.id,
                                                   PullReview.state == PENDING)).first()
    if review is None and create:
        assert pull.id is not None
        review = PullReview(pull_id=pull.id, reviewer_id=actor.id, state=PENDING, commit_sha=pull.head_sha)
        session.add(review)
        session.flush()
    return review


def start_review(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, *, body: str = "") -> PullReview:
    """``actor``'s pending review of ``pull`` (made if there is none), its text set to ``body`` when one is given:
    the API's review without a verdict, which stays pending until it is submitted."""
    may_comment(session, actor, ref, issue_of(session, pull))
    review = pending_review(session, actor, pull, create=True)
    assert review is not None
    if body:
        review.body = check_body(body, required=False)
        session.add(review)
        session.flush()
    return review


def visible_reviews(session: Session, pull: PullRequest, viewer: Account | None) -> list[PullReview]:
    """The submitted reviews of ``pull`` and the viewer's own pending one, oldest first."""
    rows = session.exec(select(PullReview).where(PullReview.pull_id == pull.id).order_by(col(PullReview.id)))
    viewer_id = viewer.id if viewer is not None else None
    return [r for r in rows if r.state != PENDING or (viewer_id is not None and r.reviewer_id == viewer_id)]


def get_review(session: Session, pull: PullRequest, review_id: int, viewer: Account | None) -> PullReview:
    """Review ``review_id`` of ``pull``; NotFound when there is none the viewer may see (a pending review is its
    author's alone)."""
    review = session.get(PullReview, review_id)
    if review is None or review.pull_id != pull.id or (
            review.state == PENDING and (viewer is None or review.reviewer_id != viewer.id)):
        raise NotFound(N_("That review does not exist."))
    return review


def pending_count(session: Session, review: PullReview | None) -> int:
    if review is None:
        return 0
    return len(list(session.exec(select(ReviewComment.id).where(ReviewComment.review_id == review.id))))


def submit_review(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, *, state: str,
                  body: str = "") -> PullReview:
    """Submit ``actor``'s review with a verdict: their pending comments (if any) join it. A "commented" review
    needs a body or comments; approving and requesting changes need an open pull request the actor did not
    write."""
    issue = issue_of(session, pull)
    may_comment(session, actor, ref, issue)
    if state not in VERDICTS:
        raise InvalidInput(N_("Choose whether to comment, approve or request changes."))
    body = check_body(body, required=False)
    if state != COMMENTED and issue.author_id == actor.id:
        if state == APPROVED:
            raise PermissionDenied(N_("You cannot approve your own pull request."))
        raise PermissionDenied(N_("You cannot request changes on your own pull request."))
    if state != COMMENTED and issue.state != im.OPEN:
        raise InvalidInput(N_("This pull request is closed: it can only be commented on."))
    review = pending_review(session, actor, pull)
    comments = list(session.exec(select(ReviewComment).where(ReviewComment.review_id == review.id))) \
        if review is not None else []
    if state == COMMENTED and not body.strip() and not comments:
        raise InvalidInput(N_("Write a comment or comment on the code before submitting the review."))
    now = utcnow()
    if review is None:
        assert pull.id is not None
        review = PullReview(pull_id=pull.id, reviewer_id=actor.id, created_at=now)
    review.state = state
    review.body = body
    review.commit_sha = pull.head_sha
    review.submitted_at = now
    session.add(review)
    for comment in comments:
        # A pending comment is dated when the review is published, so the timeline shows it there.
        comment.created_at = comment.updated_at = now
        session.add(comment)
    session.exec(delete(ReviewRequest).where(col(ReviewRequest.pull_id) == pull.id,  # type: ignore[call-overload]
                                             col(ReviewRequest.user_id) == actor.id))
    session.flush()
    if "@" in body:
        from forge.issues import mentions

        mentions.record_mentions(session, actor, ref, issue, body)
    publish(session, actor, ref, issue, pull, comments)
    activity.record(session, activity.PULL_REVIEWED, repo_id=pull.base_repo_id, issue_id=issue.id, actor_id=actor.id,
                    data={"review_id": review.id, "state": state})
    session.flush()
    return review


def discard_pending(session: Session, actor: Account, pull: PullRequest) -> int:
    """Throw away ``actor``'s pending review and its comments; how many comments went."""
    review = pending_review(session, actor, pull)
    if review is None:
        return 0
    count = pending_count(session, review)
    session.delete(review)
    session.flush()
    return count


def latest_reviews(session: Session, pull: PullRequest) -> dict[int, PullReview]:
    """Reviewer id -> the review that stands as their verdict: the latest approval, change request or dismissal,
    or, for someone who only commented, their latest comment review (a comment does not undo an approval)."""
    rows = session.exec(select(PullReview).where(PullReview.pull_id == pull.id, PullReview.state != PENDING)
                        .order_by(col(PullReview.submitted_at), col(PullReview.id)))
    result: dict[int, PullReview] = {}
    for review in rows:
        if review.reviewer_id is None:
            continue
        current = result.get(review.reviewer_id)
        if review.state == COMMENTED and current is not None and current.state != COMMENTED:
            continue
        result[review.reviewer_id] = review
    return result


@dataclass
class ReviewerState:
    """One line of the sidebar's reviewers: someone asked, someone who reviewed, or both."""

    user: Account
    requested: bool
    review: PullReview | None

    @property
    def state(self) -> str:
        """"requested" while a request is open, else the verdict of their latest review."""
        if self.requested or self.review is None:
            return "requested"
        return self.review.state


def reviewer_states(session: Session, pull: PullRequest) -> list[ReviewerState]:
    latest = latest_reviews(session, pull)
    requested = requested_reviewer_ids(session, pull)
    ids = list(dict.fromkeys([*requested, *latest]))
    users = {u.id: u for u in session.exec(select(Account).where(col(Account.id).in_(ids)))}
    return [ReviewerState(users[i], i in requested, latest.get(i)) for i in ids if i in users]


def dismiss_stale_approvals(session: Session, pull: PullRequest) -> int:
    """Dismiss the approvals given on an earlier head (branch protection's "dismiss stale approvals"): each gets
    a ``review_dismissed`` timeline entry. Returns how many."""
    from forge.issues import services as issues

    stale = list(session.exec(select(PullReview).where(PullReview.pull_id == pull.id, PullReview.state == APPROVED,
                                                       PullReview.commit_sha != pull.head_sha)))
    if not stale:
        return 0
    issue = issue_of(session, pull)
    now = utcnow()
    for review in stale:
        reviewer = session.get(Account, review.reviewer_id) if review.reviewer_id is not None else None
        review.state = DISMISSED
        review.dismissed_at = now
        session.add(review)
        issues.add_event(session, issue, None, "review_dismissed",
                         {"review_id": review.id, "reviewer": reviewer.name if reviewer else ""})
    session.flush()
    return len(stale)
