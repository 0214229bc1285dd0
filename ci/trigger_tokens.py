"""Pipeline trigger tokens (docs/ci.md, "Schedules and trigger tokens"): secrets (``fpt_``) that let another
system start a pipeline of one repository, with variables, through
``POST /api/v1/repos/{owner}/{repo}/trigger/pipeline``.

Like the runner tokens (``ci.tokens``) they are random, stored only as SHA-256 and shown once. A repository admin
(GitLab's Maintainer) makes and revokes them; the pipeline runs as the token's owner (source ``trigger``), so a
token stops working when its owner is deleted, blocked, loses write access or may not push to the protected branch
asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from ci import pipelines, schedules
from ci.models import Pipeline
from ci.models.schedules import TriggerToken
from ci.tokens import hash_token, new_secret, shown_part, valid_id
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import AuthenticationRequired, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.services import RepoRef
from forge.settings import Settings

PREFIX = "fpt_"
MAX_DESCRIPTION = 255
MAX_PER_REPO = 100
# Set for every job of a triggered pipeline, as GitLab does.
TRIGGERED_VARIABLE = "CI_PIPELINE_TRIGGERED"


@dataclass(frozen=True)
class TokenView:
    token: TriggerToken
    owner: Account | None


def _require_admin(session: Session, actor: Account, ref: RepoRef) -> None:
    require_repo_access(session, actor, ref.repo, Access.ADMIN)


def list_tokens(session: Session, actor: Account, ref: RepoRef) -> list[TokenView]:
    """The repository's tokens that still work, newest first (admin access)."""
    _require_admin(session, actor, ref)
    rows = session.exec(select(TriggerToken).where(TriggerToken.repo_id == ref.repo.id,
                                                   col(TriggerToken.revoked_at).is_(None))
                        .order_by(col(TriggerToken.id).desc()))
    return [TokenView(t, session.get(Account, t.owner_id) if t.owner_id is not None else None) for t in rows]


def create_token(session: Session, actor: Account, ref: RepoRef, description: str) -> tuple[TriggerToken, str]:
    """A new token owned by ``actor``; the secret is returned once and never stored."""
    _require_admin(session, actor, ref)
    description = description.strip()
    if not description:
        raise InvalidInput(N_("Describe what the trigger token is for (for example the system that uses it)."))
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(N_("The description is longer than %(max)s characters."), max=MAX_DESCRIPTION)
    active = session.exec(select(TriggerToken.id).where(TriggerToken.repo_id == ref.repo.id,
                                                        col(TriggerToken.revoked_at).is_(None))).all()
    if len(active) >= MAX_PER_REPO:
        raise InvalidInput(N_("A repository can have at most %(max)s trigger tokens; revoke one you no longer "
                              "need."), max=MAX_PER_REPO)
    assert ref.repo.id is not None
    secret = new_secret(PREFIX)
    token = TriggerToken(repo_id=ref.repo.id, description=description, token_hash=hash_token(secret),
                         token_prefix=shown_part(secret), owner_id=actor.id)
    session.add(token)
    session.flush()
    return token, secret


def revoke_token(session: Session, actor: Account, ref: RepoRef, token_id: int) -> TriggerToken:
    """Revoke one of the repository's tokens (admin access); calls with it are refused from then on."""
    _require_admin(session, actor, ref)
    token = session.get(TriggerToken, token_id) if valid_id(token_id) else None
    if token is None or token.repo_id != ref.repo.id or token.revoked_at is not None:
        raise NotFound(N_("This trigger token does not exist or was already revoked."))
    token.revoked_at = utcnow()
    session.add(token)
    return token


def _find(session: Session, ref: RepoRef, secret: str) -> TriggerToken | None:
    if not secret.startswith(PREFIX):
        return None
    token = session.exec(select(TriggerToken).where(TriggerToken.token_hash == hash_token(secret))).first()
    return token if token is not None and token.repo_id == ref.repo.id else None


_OWNER_PROBLEMS = {
    "gone": N_("The owner of this trigger token no longer exists; create a new token."),
    "blocked": N_("The owner of this trigger token, %(user)s, is blocked or disabled; create a new token."),
    "no_write": N_("The owner of this trigger token, %(user)s, no longer has write access to this repository; "
                   "create a new token."),
    "protected": N_("Branch %(branch)s is protected and the owner of this trigger token, %(user)s, may not push to "
                    "it."),
}


def parse_variables(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The variables sent with a trigger call; InvalidInput names a bad one."""
    return pipelines.parse_run_variables(pairs)


def trigger_pipeline(session: Session, settings: Settings, ref: RepoRef, secret: str, ref_name: str,
                     variables: dict[str, str]) -> Pipeline:
    """Start a pipeline on ``ref_name`` with ``variables``, as the token's owner.

    AuthenticationRequired for a secret that is not one of this repository's tokens (a private repository
    answers NotFound instead, as it does to anyone who may not see it), PermissionDenied for a revoked token or an
    owner who may no longer run pipelines, InvalidInput/NotFound when the ref does not exist or nothing would run.
    """
    token = _find(session, ref, secret.strip())
    if token is None:
        if ref.repo.is_private:
            raise NotFound(N_("Repository not found."))
        raise AuthenticationRequired(N_("The trigger token is not valid for this repository."))
    if token.revoked_at is not None:
        raise PermissionDenied(N_("This trigger token was revoked."))
    owner = session.get(Account, token.owner_id) if token.owner_id is not None else None
    wanted = ref_name.strip()
    problem = schedules.run_as_problem(session, owner, ref, wanted)
    if problem:
        raise PermissionDenied(_OWNER_PROBLEMS[problem], user=owner.name if owner else "",
                               branch=wanted.removeprefix("refs/heads/"))
    assert owner is not None
    token.last_used_at = utcnow()
    session.add(token)
    run_variables = {**variables, TRIGGERED_VARIABLE: "true"}
    try:
        return pipelines.run_pipeline(session, settings, ref, owner, wanted, run_variables, source="trigger")
    except NotFound as exc:  # no such branch or tag: a bad request, not a missing repository
        raise InvalidInput(exc.message, **exc.params) from exc
