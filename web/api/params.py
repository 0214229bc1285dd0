"""What every API router shares to name a repository and look it up: the path parameters (``{owner}``,
``{repo}``, an account ``{name}``, an issue ``{number}``) and the look-ups that check the caller may see it.

Names are only bounded here (a malformed one is a 404 or 422, never a database error); a NUL anywhere in the path
is refused once for all operations (``web.api.deps``). A private repository the caller may not see is a 404 like a
missing one, whatever the token says.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from sqlmodel import Session

from forge.git.repository import GitRepo
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web.api.deps import Caller, db, settings_of

MAX_INT = 2_147_483_647  # the largest id or number a database integer column holds

Owner = Annotated[str, Path(max_length=100, description="The owning user or organisation.")]
RepoName = Annotated[str, Path(max_length=100, description="The repository's name.")]
AccountName = Annotated[str, Path(max_length=100, description="A user or organisation name.")]
OrgName = Annotated[str, Path(max_length=100, description="The organisation's name.")]
UserName = Annotated[str, Path(max_length=100, description="A user's name.")]
Number = Annotated[int, Path(ge=1, le=MAX_INT, description="The issue or pull request number.")]

# The token scope a change of the repository's code or settings needs, by the access it needs.
_REPO_SCOPES = {Access.READ: "read:repo", Access.WRITE: "write:repo", Access.ADMIN: "admin:repo"}


def code_repo(session: Session, caller: Caller, owner: str, repo: str, needed: Access = Access.READ) -> RepoRef:
    """The repository for a code, CI or settings call, the user's access capped by the token's ``*:repo``
    scopes. Reading is open to anonymous callers on public repositories; a change needs a signed-in caller whose
    token has the matching scope (``write:repo``, ``admin:repo``)."""
    if needed > Access.READ:
        caller.require_user(_REPO_SCOPES[needed])
    ref, _ = repos.get_visible_repo(session, caller.user, owner, repo, needed, token_scopes=caller.scopes)
    return ref


def open_repo(request: Request, caller: Caller, owner: str, repo: str,
              needed: Access = Access.READ) -> tuple[RepoRef, GitRepo]:
    """``code_repo`` in its own transaction, and the repository's git data (read after the transaction)."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, needed)
    return ref, repos.open_git(settings_of(request).repos_dir, ref)


def issue_repo(session: Session, caller: Caller, owner: str, repo: str, scope: str = "read:issue") -> RepoRef:
    """The repository for an issue or pull request call, if the caller may read it (a hidden one is a 404
    whatever the token), then the token's issue scope. Issue access is the user's own (repository scopes do not
    cap it; ``read:issue`` does); who may change what is the services' rule."""
    ref, _ = repos.get_visible_repo(session, caller.user, owner, repo, Access.READ)
    caller.require_scope(scope)
    return ref
