"""CI secrets: registration tokens (``frt_``), runner tokens (``frn_``) and job tokens (``fjt_``).

Every secret is random (``secrets``), stored only as its SHA-256 and shown once when made. Registration tokens
belong to a scope (the whole instance, one organisation or one repository) and may be made and revoked by whoever
administers that scope: a site administrator, an owner of the organisation, an administrator of the repository.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from ci.models import RUNNING, Job, RegistrationToken, Runner
from forge.accounts import orgs
from forge.accounts.models import Account, AccountKind
from forge.db.models_base import utcnow
from forge.errors import NotFound, PermissionDenied
from forge.i18n import N_
from forge.permissions import Access, repo_access
from forge.repos.git_access import GitGrant
from forge.repos.models import Repository
from forge.repos.services import find_repo, path_of

REGISTRATION_PREFIX = "frt_"
RUNNER_PREFIX = "frn_"
JOB_PREFIX = "fjt_"
PREFIXES = (REGISTRATION_PREFIX, RUNNER_PREFIX, JOB_PREFIX)

INSTANCE = "instance"
ORG = "org"
REPO = "repo"
SCOPES = (INSTANCE, ORG, REPO)
# How much of a secret is kept in clear to tell tokens apart in lists: the prefix and four characters.
_SHOWN = 8
# Ids are 32-bit integers in PostgreSQL: a larger number from a URL or a request is simply no such row (asking
# the database would be an error).
MAX_ID = 2**31 - 1


def valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def shown_part(secret: str) -> str:
    return secret[:_SHOWN]


@dataclass(frozen=True)
class Scope:
    """Whose runners: the instance's, an organisation's (``owner_id``) or a repository's (``repo_id``)."""

    kind: str
    owner_id: int | None = None
    repo_id: int | None = None

    @classmethod
    def instance(cls) -> Scope:
        return cls(INSTANCE)

    @classmethod
    def org(cls, org: Account) -> Scope:
        return cls(ORG, owner_id=org.id)

    @classmethod
    def repo(cls, repo: Repository) -> Scope:
        return cls(REPO, repo_id=repo.id)

    def matches(self, row: RegistrationToken | Runner) -> bool:
        if row.scope != self.kind:
            return False
        if self.kind == ORG:
            return row.owner_id == self.owner_id
        if self.kind == REPO:
            return row.repo_id == self.repo_id
        return True


def may_administer(session: Session, actor: Account | None, scope: Scope) -> bool:
    if actor is None or actor.is_blocked or not actor.is_active:
        return False
    if actor.is_admin:
        return True
    if scope.kind == ORG and scope.owner_id is not None:
        org = session.get(Account, scope.owner_id)
        return org is not None and org.kind == AccountKind.ORG and orgs.is_owner(session, org, actor)
    if scope.kind == REPO and scope.repo_id is not None:
        repo = session.get(Repository, scope.repo_id)
        return repo is not None and repo_access(session, actor, repo) >= Access.ADMIN
    return False


def require_administer(session: Session, actor: Account | None, scope: Scope) -> None:
    if not may_administer(session, actor, scope):
        raise PermissionDenied(N_("You may not manage runners here."))


def create_registration_token(session: Session, actor: Account, scope: Scope) -> tuple[RegistrationToken, str]:
    """A new registration token for ``scope``; its secret is returned once and never stored."""
    require_administer(session, actor, scope)
    secret = new_secret(REGISTRATION_PREFIX)
    token = RegistrationToken(
        token_hash=hash_token(secret),
        token_prefix=shown_part(secret),
        scope=scope.kind,
        owner_id=scope.owner_id,
        repo_id=scope.repo_id,
        created_by_id=actor.id,
    )
    session.add(token)
    session.flush()
    return token, secret


def create_system_registration_token(session: Session, scope: Scope) -> tuple[RegistrationToken, str]:
    """A registration token made by the forge itself (no acting user): ``forge ci local-runner`` uses one to
    register the machine's own runner, then revokes it. Only code run by the operator on the server may call this."""
    secret = new_secret(REGISTRATION_PREFIX)
    token = RegistrationToken(
        token_hash=hash_token(secret), token_prefix=shown_part(secret), scope=scope.kind,
        owner_id=scope.owner_id, repo_id=scope.repo_id, created_by_id=None,
    )
    session.add(token)
    session.flush()
    return token, secret


def list_registration_tokens(session: Session, scope: Scope) -> list[RegistrationToken]:
    """The scope's tokens that still work, newest first."""
    stmt = select(RegistrationToken).where(
        RegistrationToken.scope == scope.kind, col(RegistrationToken.revoked_at).is_(None)
    )
    if scope.kind == ORG:
        stmt = stmt.where(RegistrationToken.owner_id == scope.owner_id)
    elif scope.kind == REPO:
        stmt = stmt.where(RegistrationToken.repo_id == scope.repo_id)
    return list(session.exec(stmt.order_by(col(RegistrationToken.id).desc())))


def revoke_registration_token(session: Session, actor: Account, scope: Scope, token_id: int) -> RegistrationToken:
    """Revoke one of ``scope``'s tokens; runners already registered with it keep working."""
    require_administer(session, actor, scope)
    token = session.get(RegistrationToken, token_id) if valid_id(token_id) else None
    if token is None or not scope.matches(token) or token.revoked_at is not None:
        raise NotFound(N_("This registration token does not exist or was already revoked."))
    token.revoked_at = utcnow()
    session.add(token)
    return token


def find_registration_token(session: Session, secret: str) -> RegistrationToken | None:
    if not secret.startswith(REGISTRATION_PREFIX):
        return None
    return session.exec(
        select(RegistrationToken).where(
            RegistrationToken.token_hash == hash_token(secret), col(RegistrationToken.revoked_at).is_(None)
        )
    ).first()


def find_runner(session: Session, secret: str) -> Runner | None:
    if not secret.startswith(RUNNER_PREFIX):
        return None
    return session.exec(select(Runner).where(Runner.token_hash == hash_token(secret))).first()


def find_job(session: Session, secret: str) -> Job | None:
    """The job this job token was handed out with, in whatever state it is now."""
    if not secret.startswith(JOB_PREFIX):
        return None
    return session.exec(select(Job).where(Job.token_hash == hash_token(secret))).first()


def running_job_repo(session: Session, secret: str) -> int | None:
    """For git over HTTP: the repository a job token may read, only while its job runs."""
    job = find_job(session, secret)
    if job is None or job.status != RUNNING:
        return None
    return job.repo_id


def job_git_grant(session: Session, repos_root: Path, repo_id: int, owner: str, name: str,
                  service: str) -> GitGrant:
    """What git may do with a CI job token whose running job belongs to repository ``repo_id``: read that
    repository (clone, fetch) and nothing else. Any other repository is "not found"; a push is refused."""
    ref = find_repo(session, owner, name)
    if ref is None or ref.repo.id != repo_id:
        raise NotFound(N_("Repository not found."))
    if service != "git-upload-pack":
        raise PermissionDenied(N_("A CI job token can only clone and fetch."))
    return GitGrant(repo_id=repo_id, full_name=ref.full_name, path=path_of(repos_root, ref), pusher_id=None,
                    level=Access.READ)
