"""Personal access tokens with scopes, expiry and last-used time."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from forge.accounts.models import AccessToken, Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound
from forge.i18n import N_

TOKEN_PREFIX = "forge_"

# Scope -> description. ``write:x`` implies ``read:x``; ``admin`` is site administration. Repository scopes cover
# code, CI and settings; issue scopes cover issues and pull requests (their conversation, review and merge button),
# so a bot that triages issues needs no access to the code.
SCOPES: dict[str, str] = {
    "read:repo": N_("Clone and read repositories you can see"),
    "write:repo": N_("Push to repositories you can write to"),
    "admin:repo": N_("Manage repository settings, collaborators and protection"),
    "read:issue": N_("Read issues, pull requests, comments, labels and milestones"),
    "write:issue": N_("Open, edit and comment on issues and pull requests, and review pull requests"),
    "read:notification": N_("Read your notifications"),
    "write:notification": N_("Mark your notifications read"),
    "read:user": N_("Read your profile"),
    "write:user": N_("Change your profile and settings"),
    "read:org": N_("Read organisations and teams"),
    "admin:org": N_("Manage organisations and teams"),
    "admin": N_("Site administration (administrators only)"),
}
# Lifetimes offered when creating a token in the web UI (days); "never" is offered as well.
EXPIRY_CHOICES = (7, 30, 90, 365)
DEFAULT_EXPIRY_DAYS = 30

_IMPLIES = {
    "write:repo": {"read:repo"},
    "admin:repo": {"read:repo", "write:repo"},
    "write:issue": {"read:issue"},
    "write:notification": {"read:notification"},
    "write:user": {"read:user"},
    "admin:org": {"read:org"},
}

_LAST_USED_INTERVAL = timedelta(minutes=1)


def expand_scopes(scopes: list[str] | str) -> frozenset[str]:
    items = scopes.split() if isinstance(scopes, str) else scopes
    result = set(items)
    for item in items:
        result |= _IMPLIES.get(item, set())
    return frozenset(result)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session, user: Account, name: str, scopes: list[str], *, expires_in_days: int | None
) -> tuple[AccessToken, str]:
    """Create a token and return it with its secret, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(N_("Give the token a name of up to 100 characters."))
    if not scopes:
        raise InvalidInput(N_("Choose at least one scope."))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(N_("Unknown scope: %(scope)s."), scope=", ".join(unknown))
    if "admin" in scopes and not user.is_admin:
        raise InvalidInput(N_("Only administrators may create tokens with the admin scope."))
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput(N_("Expiry must be between 1 and 3650 days."))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
    assert user.id is not None
    token = AccessToken(
        account_id=user.id,
        name=name,
        token_hash=_hash(secret),
        token_prefix=secret[: len(TOKEN_PREFIX) + 4],
        scopes=" ".join(sorted(set(scopes))),
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    return token, secret


def authenticate_token(session: Session, secret: str) -> tuple[AccessToken, Account] | None:
    """The token and its owner for a secret, or None if unknown, expired, or the owner may not sign in."""
    if not secret:
        return None
    token = session.exec(select(AccessToken).where(AccessToken.token_hash == _hash(secret))).first()
    if token is None:
        return None
    now = utcnow()
    if token.expires_at is not None and token.expires_at < now:
        return None
    user = session.get(Account, token.account_id)
    if user is None or user.is_blocked or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_INTERVAL:
        token.last_used_at = now
        session.add(token)
    return token, user


def list_tokens(session: Session, user: Account) -> list[AccessToken]:
    stmt = select(AccessToken).where(AccessToken.account_id == user.id)
    return list(session.exec(stmt.order_by(col(AccessToken.created_at).desc())))


def revoke(session: Session, user: Account, token_id: int) -> None:
    token = session.get(AccessToken, token_id)
    if token is None or token.account_id != user.id:
        raise NotFound(N_("That token was not found."))
    session.delete(token)
