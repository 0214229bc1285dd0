"""Suggested changes: applying the ```suggestion block of a review comment as a commit on the head branch.

Kept apart from the comments because applying one writes to git on someone's behalf: it needs push rights on the
head branch (or the fork author's "allow edits by maintainers"), passes branch protection, and moves the branch with
a compare-and-swap recorded as a push, like every other branch move the forge makes.
"""

from __future__ import annotations

from sqlmodel import Session

from forge.accounts.models import Account
from forge.accounts.users import primary_email
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, PermissionDenied
from forge.i18n import N_
from forge.issues import models as im
from forge.permissions import Access, require_repo_access
from forge.pulls import diffmap, gitops, merging
from forge.pulls import services as pulls
from forge.pulls.models import PENDING, PullRequest, PullReview, ReviewComment
from forge.pulls.review_comments import get_comment, issue_of, touch
from forge.repos import protection
from forge.repos import services as repos
from forge.repos.pushes import RefUpdate, record_push
from forge.repos.services import RepoRef
from forge.settings import Settings


def may_apply(session: Session, actor: Account | None, pull: PullRequest) -> bool:
    """Whether ``actor`` may push to the head branch (to apply suggestions): the same rule as every other change
    the forge makes to a head branch (forge.pulls.merging.may_edit_head)."""
    base = repos.get_repo_by_id(session, pull.base_repo_id)
    return base is not None and merging.may_edit_head(session, actor, base, pull)


def apply_suggestion(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest,
                     comment_id: int) -> str:
    """Commit the suggestion of review comment ``comment_id`` on the head branch; the new commit's id. The head
    branch moves like a push (a push event is recorded, and the pull request follows when it is handled)."""
    issue = issue_of(session, pull)
    require_repo_access(session, actor, ref.repo, Access.READ)
    comment = get_comment(session, pull, comment_id, actor)
    replacement = diffmap.suggestion_of(comment.body)
    if replacement is None:
        raise InvalidInput(N_("This comment suggests no change."))
    if comment.suggestion_applied_sha:
        raise Conflict(N_("This suggestion was already applied."))
    if comment.review_id is not None:
        review = session.get(PullReview, comment.review_id)
        if review is not None and review.state == PENDING:
            raise InvalidInput(N_("Submit the review before applying its suggestions."))
    if issue.state != im.OPEN:
        raise InvalidInput(N_("This pull request is closed."))
    if comment.outdated:
        raise Conflict(N_("The lines this suggestion changes were changed since; it cannot be applied."))
    if comment.side != diffmap.RIGHT:
        raise InvalidInput(N_("Only a suggestion on the new version of the file can be applied."))
    head = pulls.head_repo(session, pull)
    if head is None:
        raise InvalidInput(N_("The head repository was deleted."))
    level = merging.head_level(session, actor, ref, head, pull)
    if level < Access.WRITE:
        require_repo_access(session, actor, head.repo, Access.WRITE)  # NotFound or PermissionDenied, as usual
        raise PermissionDenied(N_("You do not have permission to do this in this repository."))
    full = f"refs/heads/{pull.head_branch}"
    protection.check_ref_update(session, actor, head, level, full, deleting=False)
    head_git = repos.open_git(settings.repos_dir, head)
    current = head_git.ref_target(full)
    if current is None:
        raise InvalidInput(N_("The head branch “%(branch)s” no longer exists."), branch=pull.head_branch)
    if current != pull.head_sha or comment.commit_sha != pull.head_sha:
        raise Conflict(N_("New commits were pushed since; reload the page and try again."))
    start = comment.start_line if comment.start_line is not None else comment.line
    kept = diffmap.hunk_lines(comment.diff_hunk, comment.side, comment.original_start_line or
                              comment.original_line, comment.original_line)
    # Without a kept hunk the lines cannot be checked against what the suggestion was written for.
    expected = kept if len(kept) == comment.line - start + 1 else None
    name = actor.display_name or actor.name
    email = primary_email(session, actor) or f"{actor.name}@users.noreply"
    summary = f"Apply suggestion to {comment.path}"
    sha = gitops.apply_suggestion(
        head_git, head_sha=pull.head_sha, path=comment.path, start_line=start, end_line=comment.line,
        replacement=replacement, expected=expected, message=summary + "\n", author=(name, email))
    if not gitops.update_ref(head_git, full, sha, current, git_bin=settings.git_bin):
        raise Conflict(N_("New commits were pushed since; reload the page and try again."))
    record_push(session, head.repo, actor.id, [RefUpdate(current, sha, full)], source="web")
    comment.suggestion_applied_sha = sha
    root = session.get(ReviewComment, comment.thread_id or comment.id) or comment
    if root.resolved_at is None:
        root.resolved_at = utcnow()
        root.resolved_by_id = actor.id
        session.add(root)
    session.add(comment)
    touch(session, issue, pull)
    session.flush()
    # The pull request follows its head now rather than when the push event is handled (which then finds
    # nothing to do).
    from forge.pulls import sync

    sync.synchronize(session, settings, pull, actor_id=actor.id)
    return sha
