"""Comments in an issue's (or pull request's) conversation: writing, editing and deleting them, and who took part.

Kept apart from the issue itself (forge.issues.services) because comments have their own author rule (the
comment's author, not the issue's) and their own side effects: a deleted comment takes its reactions with it,
and an edited one notifies only the people it newly mentions.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from forge import activity
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import NotFound, PermissionDenied
from forge.i18n import N_
from forge.issues import attachments, mentions, references
from forge.issues.access import can_triage, require_author_or_triage, require_read
from forge.issues.models import Issue, IssueComment, Reaction
from forge.issues.services import clean_body, record_activity, touch
from forge.repos.services import RepoRef


def get_comment(session: Session, issue: Issue, comment_id: int) -> IssueComment:
    comment = session.get(IssueComment, comment_id)
    if comment is None or comment.issue_id != issue.id:
        raise NotFound(N_("That comment does not exist."))
    return comment



def add_comment(session: Session, actor: Account, ref: RepoRef, issue: Issue, body: str) -> IssueComment:
    user = require_read(session, actor, ref)
    if issue.is_locked and not can_triage(session, user, ref):
        raise PermissionDenied(N_("This conversation is locked; only collaborators can comment."))
    body = clean_body(body, required=True)
    assert issue.id is not None
    comment = IssueComment(issue_id=issue.id, author_id=user.id, body=body)
    session.add(comment)
    issue.comment_count += 1
    touch(session, issue)
    session.flush()
    record_activity(session, activity.ISSUE_COMMENTED, issue, user, comment_id=comment.id)
    mentions.record_mentions(session, user, ref, issue, body, comment_id=comment.id)
    references.cross_reference(session, user, ref, issue, body)
    attachments.claim(session, ref, issue, body)
    return comment


def edit_comment(session: Session, actor: Account, ref: RepoRef, issue: Issue, comment: IssueComment,
                 body: str) -> None:
    user = require_author_or_triage(session, actor, ref, comment.author_id)
    if issue.is_locked and not can_triage(session, user, ref):
        raise PermissionDenied(N_("This conversation is locked; only collaborators can comment."))
    body = clean_body(body, required=True)
    if body == comment.body:
        return
    previous = comment.body
    comment.body = body
    comment.edited = True
    comment.updated_at = utcnow()
    session.add(comment)
    session.flush()
    mentions.record_mentions(session, user, ref, issue, body, comment_id=comment.id, previous=previous)
    references.cross_reference(session, user, ref, issue, body)


def delete_comment(session: Session, actor: Account, ref: RepoRef, issue: Issue, comment: IssueComment) -> None:
    require_author_or_triage(session, actor, ref, comment.author_id)
    for reaction in session.exec(select(Reaction).where(Reaction.issue_id == issue.id, Reaction.subject == "comment",
                                                        Reaction.comment_id == comment.id)):
        session.delete(reaction)
    session.delete(comment)
    issue.comment_count = max(0, issue.comment_count - 1)
    session.add(issue)
    session.flush()



def participants(session: Session, issue: Issue) -> list[Account]:
    """The author and everyone who commented, in order of first appearance."""
    ids: list[int] = []
    if issue.author_id is not None:
        ids.append(issue.author_id)
    stmt = select(IssueComment.author_id).where(IssueComment.issue_id == issue.id).order_by(col(IssueComment.id))
    for author_id in session.exec(stmt):
        if author_id is not None and author_id not in ids:
            ids.append(author_id)
    if not ids:
        return []
    by_id = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]

