"""Reactions (GitHub's eight emoji) on an issue's body, its comments and a pull request's review comments.

A reaction belongs to the conversation rather than to what it is on, so the lock rule of the conversation applies
and one query gathers every reaction on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.errors import InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.issues.access import can_triage, require_read
from forge.issues.comments import get_comment
from forge.issues.models import Issue, Reaction
from forge.repos.services import RepoRef

REACTIONS = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
REACTION_EMOJI = {
    "+1": "👍", "-1": "👎", "laugh": "😄", "hooray": "🎉", "confused": "😕", "heart": "❤️", "rocket": "🚀",
    "eyes": "👀",
}


@dataclass
class ReactionGroup:
    content: str
    emoji: str
    users: list[str] = field(default_factory=list)
    mine: bool = False

    @property
    def count(self) -> int:
        return len(self.users)


def toggle_reaction(session: Session, actor: Account, ref: RepoRef, issue: Issue, content: str, *,
                    subject: str = "issue", comment_id: int = 0) -> bool:
    """Add ``actor``'s reaction, or take it back if it is there; True when it is now present."""
    user = require_read(session, actor, ref)
    if content not in REACTIONS:
        raise InvalidInput(N_("Unknown reaction."))
    if subject not in ("issue", "comment", "review_comment"):
        raise InvalidInput(N_("Unknown reaction target."))
    if issue.is_locked and not can_triage(session, user, ref):
        raise PermissionDenied(N_("This conversation is locked; only collaborators can react."))
    if subject == "issue":
        comment_id = 0
    elif subject == "comment":
        get_comment(session, issue, comment_id)
    else:
        from forge.pulls.models import PullRequest, ReviewComment

        review_comment = session.get(ReviewComment, comment_id)
        pull = session.get(PullRequest, review_comment.pull_id) if review_comment else None
        if pull is None or pull.issue_id != issue.id:
            raise NotFound(N_("That comment does not exist."))
    assert issue.id is not None and user.id is not None
    existing = session.exec(select(Reaction).where(
        Reaction.issue_id == issue.id, Reaction.subject == subject, Reaction.comment_id == comment_id,
        Reaction.user_id == user.id, Reaction.content == content)).first()
    if existing is not None:
        session.delete(existing)
        session.flush()
        return False
    try:
        with session.begin_nested():
            session.add(Reaction(issue_id=issue.id, subject=subject, comment_id=comment_id, user_id=user.id,
                                 content=content))
    except IntegrityError:
        pass  # the same click twice at once
    return True


def reactions_for(session: Session, issue: Issue, viewer: Account | None) -> dict[tuple[str, int], list[ReactionGroup]]:
    """The reactions on the issue body and every comment: (subject, comment_id) -> groups in REACTIONS order."""
    stmt = (select(Reaction, Account.name).join(Account, col(Account.id) == Reaction.user_id)
            .where(Reaction.issue_id == issue.id).order_by(col(Reaction.id)))
    grouped: dict[tuple[str, int], dict[str, ReactionGroup]] = {}
    for reaction, name in session.exec(stmt):
        groups = grouped.setdefault((reaction.subject, reaction.comment_id), {})
        group = groups.setdefault(reaction.content, ReactionGroup(reaction.content, REACTION_EMOJI[reaction.content]))
        group.users.append(name)
        if viewer is not None and reaction.user_id == viewer.id:
            group.mine = True
    return {key: [groups[c] for c in REACTIONS if c in groups] for key, groups in grouped.items()}

