"""Web sign-in sessions: an opaque random cookie value, stored only as a SHA-256 hash, revocable any time."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from forge.accounts.models import Account, WebSession
from forge.db.models_base import utcnow
from forge.errors import NotFound
from forge.i18n import N_

# Writing last_seen on every request would turn every page view into a write; once a minute is enough to show
# "last active" and to slide the expiry.
_TOUCH_INTERVAL = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    session: Session, user: Account, *, days: int, ip: str = "", user_agent: str = ""
) -> tuple[WebSession, str]:
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    now = utcnow()
    ws = WebSession(
        account_id=user.id,
        token_hash=_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=days),
        ip=ip[:64],
        user_agent=user_agent[:256],
    )
    session.add(ws)
    session.flush()
    return ws, token


def lookup_session(session: Session, token: str, *, days: int) -> tuple[WebSession, Account] | None:
    """The session and user for a cookie value; None if unknown, expired, or the user may not sign in."""
    if not token:
        return None
    ws = session.exec(select(WebSession).where(WebSession.token_hash == _hash(token))).first()
    if ws is None:
        return None
    now = utcnow()
    if ws.expires_at < now:
        session.delete(ws)
        return None
    user = session.get(Account, ws.account_id)
    if user is None or user.is_blocked or not user.is_active:
        return None
    if now - ws.last_seen_at > _TOUCH_INTERVAL:
        ws.last_seen_at = now
        ws.expires_at = now + timedelta(days=days)
        session.add(ws)
    return ws, user


def list_sessions(session: Session, user: Account) -> list[WebSession]:
    stmt = select(WebSession).where(WebSession.account_id == user.id)
    return list(session.exec(stmt.order_by(col(WebSession.last_seen_at).desc())))


def revoke_session(session: Session, user: Account, session_id: int) -> None:
    ws = session.get(WebSession, session_id)
    if ws is None or ws.account_id != user.id:
        raise NotFound(N_("That session was not found."))
    session.delete(ws)


def revoke_token(session: Session, token: str) -> None:
    ws = session.exec(select(WebSession).where(WebSession.token_hash == _hash(token))).first()
    if ws is not None:
        session.delete(ws)


def revoke_other_sessions(session: Session, user: Account, keep_id: int | None) -> int:
    count = 0
    for ws in list_sessions(session, user):
        if ws.id != keep_id:
            session.delete(ws)
            count += 1
    return count
