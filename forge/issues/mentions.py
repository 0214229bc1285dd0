"""``@name`` mentions in issue bodies and comments: who gets told.

A mention counts when it names an existing, active, unblocked user who can read the repository (mentioning someone
who cannot see a private repository tells them nothing and would leak its existence). The activity row
(``issue.mentioned``) carries the users; forge's notification consumer turns it into notifications and mail.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from forge import activity
from forge.accounts.models import Account, AccountKind
from forge.issues.models import Issue
from forge.issues.textrefs import find_mentions
from forge.permissions import Access, repo_access
from forge.repos.services import RepoRef

MAX_MENTIONS = 50  # per text: a pasted member list must not page a whole site


def mentioned_users(session: Session, ref: RepoRef, text: str) -> list[Account]:
    """The users ``text`` mentions who exist, are active and can read the repository, in order of mention."""
    names = find_mentions(text)[:MAX_MENTIONS]
    if not names:
        return []
    rows = session.exec(select(Account).where(col(Account.lower_name).in_(names), Account.kind == AccountKind.USER))
    by_name = {a.lower_name: a for a in rows}
    users = []
    for name in names:
        user = by_name.get(name)
        if user is None or not user.is_active or user.is_blocked:
            continue
        if repo_access(session, user, ref.repo) >= Access.READ:
            users.append(user)
    return users


def record_mentions(session: Session, actor: Account, ref: RepoRef, issue: Issue, text: str, *,
                    comment_id: int | None = None, previous: str = "") -> list[int]:
    """Record one ``issue.mentioned`` activity for the users ``text`` mentions (those already mentioned in
    ``previous``, the text before an edit, and the actor themself left out); returns their ids."""
    before = {u.id for u in mentioned_users(session, ref, previous)} if previous else set()
    ids = [u.id for u in mentioned_users(session, ref, text) if u.id not in before and u.id != actor.id]
    user_ids = [i for i in ids if i is not None]
    if user_ids:
        activity.record(session, activity.ISSUE_MENTIONED, repo_id=issue.repo_id, issue_id=issue.id,
                        actor_id=actor.id, comment_id=comment_id, data={"user_ids": user_ids})
    return user_ids
