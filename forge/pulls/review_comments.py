"""Comments on the lines of a pull request's diff and the threads they form: posting one at once or into the
commenter's pending review, replying, resolving, editing, deleting, and who may see a comment of a review that is
still pending.

The rules every piece of review text shares (who may write in the conversation, how long a body may be, what
publishing a comment does) live here too: submitting a review (forge.pulls.reviews) publishes the comments made
here and must apply the same rules to its own text.

Rules, as on GitHub:

* anyone who can read the repository (and is signed in) may comment; a locked conversation takes collaborators
  only;
* a comment is either posted at once ("Add single comment": it becomes a one-comment review with the "commented"
  verdict, as on GitHub) or added to the commenter's pending review ("Start a review"), which nobody else sees until
  it is submitted with a verdict;
* a thread is resolved by the pull request's author, the thread's author or anyone with write access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from forge import activity
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.git.repository import GitRepo
from forge.i18n import N_
from forge.issues import models as im
from forge.permissions import Access, require_repo_access
from forge.pulls import diffmap
from forge.pulls.models import COMMENTED, PENDING, PullRequest, PullReview, ReviewComment
from forge.repos.services import RepoRef

MAX_BODY = 65_536
MAX_COMMENT_LINES = 500  # a multi-line comment spans at most this many lines


def issue_of(session: Session, pull: PullRequest) -> im.Issue:
    """The issue row of ``pull`` (every pull request has one: its number, title, author and state)."""
    issue = session.get(im.Issue, pull.issue_id)
    assert issue is not None
    return issue


def touch(session: Session, issue: im.Issue, pull: PullRequest) -> None:
    """Mark the pull request as updated now (lists sort by it)."""
    issue.updated_at = pull.updated_at = utcnow()
    session.add(issue)
    session.add(pull)


def check_body(body: str, *, required: bool = True) -> str:
    """The text of a review comment or review, line endings normalised; InvalidInput when empty (if ``required``)
    or too long."""
    body = body.replace("\r\n", "\n")
    if required and not body.strip():
        raise InvalidInput(N_("The comment is empty."))
    if len(body) > MAX_BODY:
        raise InvalidInput(N_("A comment may be at most %(max)s characters long."), max=MAX_BODY)
    return body


def may_comment(session: Session, actor: Account | None, ref: RepoRef, issue: im.Issue) -> Access:
    """``actor``'s access level when they may write in the review conversation (signed in, can read, and the
    conversation is not locked unless they have write access); raises otherwise."""
    if actor is None:
        raise PermissionDenied(N_("Sign in to do this."))
    level = require_repo_access(session, actor, ref.repo, Access.READ)
    if issue.is_locked and level < Access.WRITE:
        raise PermissionDenied(N_("This conversation is locked: only collaborators can comment."))
    return level


# --- comments on the diff ----------------------------------------------------------------------------------


def add_review_comment(
    session: Session,
    actor: Account,
    ref: RepoRef,
    pull: PullRequest,
    *,
    path: str = "",
    line: int = 0,
    side: str = "right",
    start_line: int | None = None,
    body: str,
    commit_sha: str = "",
    in_reply_to: int | None = None,
    review_id: int | None = None,
    git: GitRepo | None = None,
) -> ReviewComment:
    """Comment on lines ``start_line``..``line`` (one line when ``start_line`` is None) of ``side`` of ``path`` as
    the pull request's diff shows them at ``commit_sha`` (the current head; empty means the current head), or reply
    to thread ``in_reply_to``. With ``review_id`` (the actor's pending review, see
    forge.pulls.reviews.pending_review) the comment waits for the review to be submitted; without, it is posted at
    once. ``git`` is the base repository, read to check the lines are in the diff and keep their hunk."""
    issue = issue_of(session, pull)
    may_comment(session, actor, ref, issue)
    body = check_body(body)
    review: PullReview | None = None
    if review_id is not None:
        review = session.get(PullReview, review_id)
        if review is None or review.pull_id != pull.id or review.reviewer_id != actor.id or review.state != PENDING:
            raise InvalidInput(N_("That review was already submitted; reload the page."))
    assert pull.id is not None
    now = utcnow()
    if in_reply_to is not None:
        root = session.get(ReviewComment, in_reply_to)
        if root is None or root.pull_id != pull.id or not visible(session, root, actor):
            raise NotFound(N_("That review comment does not exist."))
        if root.thread_id is not None and root.thread_id != root.id:
            root = session.get(ReviewComment, root.thread_id) or root
        comment = ReviewComment(
            pull_id=pull.id, review_id=review.id if review else None, thread_id=root.id, author_id=actor.id,
            path=root.path, side=root.side, start_line=root.start_line, line=root.line, commit_sha=root.commit_sha,
            original_start_line=root.original_start_line, original_line=root.original_line,
            original_commit_sha=root.original_commit_sha, diff_hunk=root.diff_hunk, body=body,
            outdated=root.outdated, created_at=now, updated_at=now)
    else:
        comment = _new_thread(session, actor, pull, git, path=path, line=line, side=side, start_line=start_line,
                              body=body, commit_sha=commit_sha, now=now)
        if review is None:
            # A single comment is a one-comment review with the "commented" verdict, as on GitHub.
            single = PullReview(pull_id=pull.id, reviewer_id=actor.id, state=COMMENTED, body="",
                                commit_sha=pull.head_sha, created_at=now, submitted_at=now)
            session.add(single)
            session.flush()
            comment.review_id = single.id
        else:
            comment.review_id = review.id
    session.add(comment)
    session.flush()
    if comment.thread_id is None:
        comment.thread_id = comment.id
        session.add(comment)
    if review is None:
        publish(session, actor, ref, issue, pull, [comment])
        activity.record(session, activity.PULL_REVIEW_COMMENTED, repo_id=pull.base_repo_id, issue_id=issue.id,
                        actor_id=actor.id, comment_id=comment.id)
    session.flush()
    return comment


def _new_thread(session: Session, actor: Account, pull: PullRequest, git: GitRepo | None, *, path: str, line: int,
                side: str, start_line: int | None, body: str, commit_sha: str, now: datetime) -> ReviewComment:
    path = path.strip().strip("/")
    if not path:
        raise InvalidInput(N_("Choose the file to comment on."))
    if side not in diffmap.SIDES:
        raise InvalidInput(N_("A comment is on the left or the right side of the diff."))
    if start_line == line:
        start_line = None
    first = start_line if start_line is not None else line
    if line < 1 or first < 1 or first > line:
        raise InvalidInput(N_("Choose the lines to comment on."))
    if line - first >= MAX_COMMENT_LINES:
        raise InvalidInput(N_("A comment can span at most %(max)s lines."), max=MAX_COMMENT_LINES)
    commit_sha = commit_sha.strip() or pull.head_sha
    if commit_sha != pull.head_sha:
        raise Conflict(N_("New commits were pushed since you loaded the page; reload it and comment again."))
    hunk = ""
    if git is not None:
        try:
            file = diffmap.find_file(diffmap.pull_diff(git, pull.merge_base, pull.head_sha, path=path), path)
        except NotFound:
            file = None
        if file is None:
            raise InvalidInput(N_("“%(path)s” is not among the changed files."), path=path)
        if not diffmap.commentable(file, side, first, line):
            raise InvalidInput(N_("Those lines are not part of the diff."))
        hunk = diffmap.hunk_text(file, side, first, line)
        path = file.path if side == diffmap.RIGHT or not file.old_path else file.old_path
    assert pull.id is not None
    return ReviewComment(
        pull_id=pull.id, author_id=actor.id, path=path, side=side, start_line=start_line, line=line,
        commit_sha=commit_sha, original_start_line=start_line, original_line=line, original_commit_sha=commit_sha,
        diff_hunk=hunk, body=body, created_at=now, updated_at=now)


def publish(session: Session, actor: Account, ref: RepoRef, issue: im.Issue, pull: PullRequest,
            comments: list[ReviewComment]) -> None:
    """What happens when comments become visible: mentions are recorded, the pull request is touched."""
    from forge.issues import mentions

    for comment in comments:
        if "@" in comment.body:
            mentions.record_mentions(session, actor, ref, issue, comment.body, comment_id=comment.id)
    touch(session, issue, pull)


# --- threads -----------------------------------------------------------------------------------------------


def visible(session: Session, comment: ReviewComment, viewer: Account | None) -> bool:
    """A comment of a pending review is seen by its author only."""
    if comment.review_id is None:
        return True
    review = session.get(PullReview, comment.review_id)
    return review is None or review.state != PENDING or (viewer is not None and review.reviewer_id == viewer.id)


@dataclass
class Thread:
    root: ReviewComment
    replies: list[ReviewComment] = field(default_factory=list)
    pending: set[int] = field(default_factory=set)  # ids of the viewer's own unsubmitted comments

    @property
    def id(self) -> int:
        assert self.root.id is not None
        return self.root.id

    @property
    def comments(self) -> list[ReviewComment]:
        return [self.root, *self.replies]

    @property
    def resolved(self) -> bool:
        return self.root.resolved_at is not None

    @property
    def outdated(self) -> bool:
        return self.root.outdated

    @property
    def first_line(self) -> int:
        return self.root.start_line if self.root.start_line is not None else self.root.line


def threads(session: Session, pull: PullRequest, viewer: Account | None) -> list[Thread]:
    """Every thread of ``pull`` the viewer may see, oldest first, each with its replies in order."""
    rows = list(session.exec(select(ReviewComment).where(ReviewComment.pull_id == pull.id)
                             .order_by(col(ReviewComment.created_at), col(ReviewComment.id))))
    reviews = {r.id: r for r in session.exec(select(PullReview).where(PullReview.pull_id == pull.id))}
    viewer_id = viewer.id if viewer is not None else None
    found: dict[int, Thread] = {}
    ordered: list[Thread] = []
    pending_ids: set[int] = set()
    for comment in rows:
        review = reviews.get(comment.review_id) if comment.review_id is not None else None
        if review is not None and review.state == PENDING:
            if review.reviewer_id != viewer_id:
                continue
            assert comment.id is not None
            pending_ids.add(comment.id)
        thread_id = comment.thread_id or comment.id
        assert thread_id is not None
        if thread_id == comment.id:
            found[thread_id] = Thread(comment)
            ordered.append(found[thread_id])
        elif thread_id in found:
            found[thread_id].replies.append(comment)
    for thread in ordered:
        thread.pending = {c.id for c in thread.comments if c.id in pending_ids}  # type: ignore[misc]
    return ordered


def get_comment(session: Session, pull: PullRequest, comment_id: int, viewer: Account | None) -> ReviewComment:
    comment = session.get(ReviewComment, comment_id)
    if comment is None or comment.pull_id != pull.id or not visible(session, comment, viewer):
        raise NotFound(N_("That review comment does not exist."))
    return comment


def resolve_thread(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, thread_id: int,
                   resolved: bool) -> None:
    """Mark a thread resolved or not: the pull request's author, the thread's author or anyone with write access
    may."""
    issue = issue_of(session, pull)
    level = require_repo_access(session, actor, ref.repo, Access.READ)
    root = get_comment(session, pull, thread_id, actor)
    if root.thread_id not in (None, root.id):
        raise NotFound(N_("That review comment does not exist."))
    if level < Access.WRITE and actor.id not in (issue.author_id, root.author_id):
        raise PermissionDenied(N_("Only the author, the commenter or someone with write access can resolve this."))
    if (root.resolved_at is not None) == resolved:
        return
    root.resolved_at = utcnow() if resolved else None
    root.resolved_by_id = actor.id if resolved else None
    session.add(root)
    session.flush()


def edit_review_comment(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, comment_id: int,
                        body: str) -> ReviewComment:
    """Change the text of one's own review comment (an applied suggestion's comment keeps its text)."""
    issue = issue_of(session, pull)
    may_comment(session, actor, ref, issue)
    comment = get_comment(session, pull, comment_id, actor)
    if comment.author_id != actor.id:
        raise PermissionDenied(N_("Only its author can edit a comment."))
    if comment.suggestion_applied_sha:
        raise InvalidInput(N_("This suggestion was applied; its comment can no longer be edited."))
    comment.body = check_body(body)
    comment.updated_at = utcnow()
    session.add(comment)
    session.flush()
    return comment


def delete_review_comment(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, comment_id: int) -> None:
    """Delete a review comment: its author or anyone with write access may. The first reply of a thread whose
    first comment goes takes its place; a review left with neither text nor comments goes too."""
    level = require_repo_access(session, actor, ref.repo, Access.READ)
    comment = get_comment(session, pull, comment_id, actor)
    if comment.author_id != actor.id and level < Access.WRITE:
        raise PermissionDenied(N_("Only its author or someone with write access can delete a comment."))
    if comment.thread_id in (None, comment.id):
        replies = list(session.exec(select(ReviewComment).where(ReviewComment.thread_id == comment.id,
                                                                ReviewComment.id != comment.id)
                                    .order_by(col(ReviewComment.id))))
        if replies:
            heir = replies[0]
            for reply in replies:
                reply.thread_id = heir.id
                session.add(reply)
            heir.resolved_at, heir.resolved_by_id = comment.resolved_at, comment.resolved_by_id
            if heir.review_id is None:
                heir.review_id = comment.review_id  # the thread stays under the review that published it
    review = session.get(PullReview, comment.review_id) if comment.review_id is not None else None
    session.delete(comment)
    session.flush()
    if review is not None and review.state != PENDING and not review.body.strip() and not session.exec(
            select(ReviewComment.id).where(ReviewComment.review_id == review.id)).first():
        session.delete(review)
        session.flush()
