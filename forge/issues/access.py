"""Who may do what in an issue's (or pull request's) conversation, following GitHub's rules.

"Triage" means WRITE access or more:
* anyone signed in who can read the repository opens issues, comments and reacts (on a locked conversation only
  people who may triage may comment or react);
* the author edits their issue or comment and closes or reopens their own issue; people who may triage may do all
  of that to anyone's;
* labels, assignees, milestone, due date, lock and pin need triage; only people with WRITE access can be assigned.

The rules live here, apart from the services that apply them, because the pages ask the same questions to decide
which buttons to show.
"""

from __future__ import annotations

from sqlmodel import Session

from forge.accounts.models import Account
from forge.errors import AuthenticationRequired, PermissionDenied
from forge.i18n import N_
from forge.issues.models import Issue
from forge.permissions import Access, repo_access, require_repo_access
from forge.repos.services import RepoRef


def can_triage(session: Session, actor: Account | None, ref: RepoRef) -> bool:
    """Whether ``actor`` may label, assign, close others' issues, lock and pin: WRITE access or more."""
    return actor is not None and repo_access(session, actor, ref.repo) >= Access.WRITE


def is_author_or_triager(session: Session, actor: Account | None, ref: RepoRef, author_id: int | None) -> bool:
    if actor is None or repo_access(session, actor, ref.repo) < Access.READ:
        return False
    return (author_id is not None and actor.id == author_id) or can_triage(session, actor, ref)


def can_comment(session: Session, actor: Account | None, ref: RepoRef, issue: Issue) -> bool:
    if actor is None or repo_access(session, actor, ref.repo) < Access.READ:
        return False
    return not issue.is_locked or can_triage(session, actor, ref)


def _signed_in(actor: Account | None) -> Account:
    if actor is None:
        raise AuthenticationRequired(N_("Sign in to do this."))
    return actor


def require_read(session: Session, actor: Account | None, ref: RepoRef) -> Account:
    """The signed-in reader (hidden repositories answer 404 before "sign in" is asked)."""
    require_repo_access(session, actor, ref.repo, Access.READ)
    return _signed_in(actor)


def require_triage(session: Session, actor: Account | None, ref: RepoRef) -> Account:
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    return _signed_in(actor)


def require_author_or_triage(session: Session, actor: Account | None, ref: RepoRef, author_id: int | None) -> Account:
    user = require_read(session, actor, ref)
    if not is_author_or_triager(session, user, ref, author_id):
        raise PermissionDenied(N_("Only the author and people with write access can do this."))
    return user
