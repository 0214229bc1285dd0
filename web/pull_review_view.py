"""The review timeline of a pull request as the templates show it: each submitted review with its threads, each
thread with its comments rendered, suggestions previewed, and what the viewer may do (resolve, apply).

Shared by the conversation page (reviews in the timeline) and the files tab (threads on the diff lines); kept out
of the route modules because both build the same views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select
from starlette.requests import Request

from forge.accounts.models import Account
from forge.issues import models as im
from forge.issues.timeline import TimelineItem
from forge.permissions import Access
from forge.pulls import diffmap, review_comments, suggestions
from forge.pulls.models import PENDING, PullRequest, PullReview, ReviewComment
from forge.repos.services import RepoRef
from web import issue_view
from web.state import current_user


def review_items(session: Session, request: Request, ref: RepoRef, pull: PullRequest, viewer: Account | None,
                 level: Access) -> list[Any]:
    """The timeline items of submitted reviews (kind "review"), each with its threads, bodies rendered. A review
    with neither a summary nor visible threads (all deleted) is left out."""
    all_threads = review_comments.threads(session, pull, viewer)
    by_review: dict[int, list[review_comments.Thread]] = {}
    for thread in all_threads:
        if thread.root.review_id is not None:
            by_review.setdefault(thread.root.review_id, []).append(thread)
    submitted = list(session.exec(select(PullReview).where(PullReview.pull_id == pull.id,
                                                           PullReview.state != PENDING)))
    accounts = thread_accounts(session, all_threads, {r.reviewer_id for r in submitted if r.reviewer_id})
    may_apply = suggestions.may_apply(session, viewer, pull)
    items = []
    for review in submitted:
        threads = by_review.get(review.id or 0, [])
        if not review.body.strip() and not threads:
            continue
        view = ReviewView(review, accounts.get(review.reviewer_id or 0),
                          issue_view.render_text(session, request, ref, review.body) if review.body.strip() else "",
                          [thread_view(session, request, ref, pull, t, accounts, level, may_apply) for t in threads])
        items.append(TimelineItem(kind="review", created_at=review.submitted_at or review.created_at,
                                  actor=view.reviewer, extra=view, template="pulls/_review_item.html"))
    return items


@dataclass
class ReviewView:
    """A submitted review for ``pulls/_review_item.html``."""

    review: PullReview
    reviewer: Account | None
    body_html: str
    threads: list[ThreadView]


@dataclass
class CommentView:
    comment: ReviewComment
    author: Account | None
    body_html: str  # without its suggestion block, which ``suggestion`` previews
    suggestion: diffmap.SuggestionPreview | None
    pending: bool  # in the viewer's unsubmitted review


@dataclass
class ThreadView:
    """A thread for ``pulls/_thread.html``: its comments and what the viewer may do with it."""

    thread: review_comments.Thread
    comments: list[CommentView]
    hunk: list[Any]  # the lines it was written on (forge.git.diffs.DiffLine)
    can_resolve: bool
    can_apply: bool
    resolved_by: Account | None

    @property
    def root(self) -> ReviewComment:
        return self.thread.root

    @property
    def id(self) -> int:
        return self.thread.id


def thread_accounts(session: Session, threads: list[review_comments.Thread], extra: set[int]) -> dict[int, Account]:
    """The accounts the threads show (authors, who resolved) and ``extra``, by id, in one query."""
    ids = set(extra)
    for t in threads:
        ids.update(c.author_id for c in t.comments if c.author_id is not None)
        if t.root.resolved_by_id is not None:
            ids.add(t.root.resolved_by_id)
    if not ids:
        return {}
    return {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(ids))) if a.id is not None}


def thread_view(session: Session, request: Request, ref: RepoRef, pull: PullRequest, thread: review_comments.Thread,
                accounts: dict[int, Account], level: Access, may_apply: bool | None = None) -> ThreadView:
    """A thread ready for ``pulls/_thread.html``: bodies rendered, suggestions previewed, what the viewer may do."""
    viewer = current_user(request)
    issue = session.get(im.Issue, pull.issue_id)
    assert issue is not None
    can_resolve = viewer is not None and thread.root.id not in thread.pending and (
        level >= Access.WRITE or viewer.id in (issue.author_id, thread.root.author_id))
    if may_apply is None:
        may_apply = suggestions.may_apply(session, viewer, pull)
    open_pull = issue.state == im.OPEN
    comments = []
    for c in thread.comments:
        first = c.original_start_line or c.original_line
        suggestion = diffmap.suggestion_preview(c.diff_hunk, c.side, first, c.original_line, c.body)
        body = diffmap.strip_suggestion(c.body) if suggestion is not None else c.body
        html = issue_view.render_text(session, request, ref, body) if body.strip() else ""
        comments.append(CommentView(c, accounts.get(c.author_id or 0), html, suggestion, c.id in thread.pending))
    can_apply = bool(may_apply and open_pull and not thread.outdated and thread.root.side == diffmap.RIGHT)
    return ThreadView(thread, comments, diffmap.parse_hunk(thread.root.diff_hunk), can_resolve, can_apply,
                      accounts.get(thread.root.resolved_by_id or 0))
