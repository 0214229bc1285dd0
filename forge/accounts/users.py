"""User accounts: sign-up, sign-in, profile, email addresses and admin actions."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

from sqlmodel import Session, col, func, select

from forge.accounts.credential_cache import CredentialCache
from forge.accounts.models import Account, AccountKind, EmailAddress, OrgMember, WebSession
from forge.accounts.passwords import (
    DUMMY_HASH,
    hash_password,
    needs_rehash,
    validate_password,
    verify_password,
)
from forge.db.models_base import utcnow
from forge.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.names import validate_account_name, validate_email


class AuthenticationFailed(AuthenticationRequired):
    pass


def get_account(session: Session, name: str) -> Account:
    account = session.exec(select(Account).where(Account.lower_name == name.lower())).first()
    if account is None:
        raise NotFound(N_("No user or organisation is called “%(name)s”."), name=name)
    return account


def find_account(session: Session, name: str) -> Account | None:
    return session.exec(select(Account).where(Account.lower_name == name.lower())).first()


def user_ids_named(session: Session, names: Iterable[str]) -> list[int]:
    """Account ids of the users called ``names`` (a leading ``@`` allowed; each once, in order), for the
    assignee and reviewer pickers of the pages and the API; InvalidInput naming the first that is not a user."""
    ids: dict[int, None] = {}
    for name in names:
        account = find_account(session, name.lstrip("@"))
        if account is None or account.is_org:
            raise InvalidInput(N_("There is no user called “%(name)s”."), name=name)
        assert account.id is not None
        ids[account.id] = None
    return list(ids)


def get_user(session: Session, name: str) -> Account:
    account = find_account(session, name)
    if account is None or account.kind != AccountKind.USER:
        raise NotFound(N_("No user is called “%(name)s”."), name=name)
    return account


def get_account_by_id(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def count_users(session: Session) -> int:
    stmt = select(func.count()).select_from(Account).where(Account.kind == AccountKind.USER)
    return session.exec(stmt).one()


def list_accounts(
    session: Session, kind: str, *, query: str = "", offset: int = 0, limit: int = 50
) -> list[Account]:
    stmt = select(Account).where(Account.kind == kind)
    if query:
        stmt = stmt.where(col(Account.lower_name).contains(query.lower()))
    return list(session.exec(stmt.order_by(col(Account.lower_name)).offset(offset).limit(limit)))


def _check_name_free(session: Session, name: str) -> None:
    if find_account(session, name) is not None:
        raise Conflict(N_("The name “%(name)s” is already taken."), name=name)


def _check_email_free(session: Session, email: str) -> None:
    existing = session.exec(select(EmailAddress).where(EmailAddress.lower_email == email.lower())).first()
    if existing is not None:
        raise Conflict(N_("The email address “%(email)s” is already in use."), email=email)


def create_user(
    session: Session,
    name: str,
    password: str,
    email: str = "",
    *,
    is_admin: bool = False,
    is_active: bool = True,
    display_name: str = "",
) -> Account:
    """Create a user. ``email`` may be empty for accounts made from the CLI."""
    validate_account_name(name)
    validate_password(password)
    _check_name_free(session, name)
    if email:
        email = validate_email(email)
        _check_email_free(session, email)
    user = Account(
        kind=AccountKind.USER,
        name=name,
        lower_name=name.lower(),
        display_name=display_name.strip()[:128],
        password_hash=hash_password(password),
        is_admin=is_admin,
        is_active=is_active,
    )
    session.add(user)
    session.flush()
    if email:
        assert user.id is not None
        session.add(
            EmailAddress(account_id=user.id, email=email, lower_email=email.lower(), is_primary=True)
        )
        session.flush()
    return user


def authenticate(session: Session, login: str, password: str) -> Account:
    """Check a name-or-email and password. Errors say nothing about which part was wrong."""
    login = login.strip()
    user: Account | None
    if "@" in login:
        addr = session.exec(select(EmailAddress).where(EmailAddress.lower_email == login.lower())).first()
        user = session.get(Account, addr.account_id) if addr else None
    else:
        user = find_account(session, login)
    if user is None or user.kind != AccountKind.USER:
        verify_password(DUMMY_HASH, password)
        raise AuthenticationFailed(N_("Incorrect user name or password."))
    if not verify_password(user.password_hash, password):
        raise AuthenticationFailed(N_("Incorrect user name or password."))
    check_can_sign_in(user)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.add(user)
    return user


def authenticate_basic(session: Session, cache: CredentialCache, login: str, password: str) -> Account:
    """``authenticate`` for credentials sent with every request (git, API Basic auth), skipping the argon2 cost
    when the same credentials were verified moments ago and the password has not changed since."""
    hit = cache.lookup(login, password)
    if hit is not None:
        account_id, password_hash = hit
        user = session.get(Account, account_id)
        if user is not None and user.password_hash == password_hash:
            check_can_sign_in(user)
            return user
    user = authenticate(session, login, password)
    assert user.id is not None
    cache.remember(login, password, user.id, user.password_hash)
    return user


def check_can_sign_in(user: Account) -> None:
    if user.is_blocked:
        raise PermissionDenied(N_("This account has been blocked by an administrator."))
    if not user.is_active:
        raise PermissionDenied(N_("This account is waiting for approval by an administrator."))


def change_password(session: Session, user: Account, old: str, new: str) -> None:
    if not verify_password(user.password_hash, old):
        raise InvalidInput(N_("The current password is not correct."))
    set_password(session, user, new)


def set_password(session: Session, user: Account, new: str) -> None:
    validate_password(new)
    user.password_hash = hash_password(new)
    user.updated_at = utcnow()
    session.add(user)


# Languages a user may choose; keep in step with ``web.i18n.LOCALES`` (the core cannot import the web layer).
# The empty string means "follow the browser".
SUPPORTED_LOCALES = ("zh_CN", "en")


def update_profile(
    session: Session,
    account: Account,
    *,
    display_name: str | None = None,
    bio: str | None = None,
    website: str | None = None,
    locale: str | None = None,
) -> Account:
    if display_name is not None:
        if len(display_name) > 128:
            raise InvalidInput(N_("Display names may be at most 128 characters long."))
        account.display_name = display_name.strip()
    if bio is not None:
        if len(bio) > 1024:
            raise InvalidInput(N_("The bio may be at most 1024 characters long."))
        account.bio = bio.strip()
    if website is not None:
        website = website.strip()
        if website and not website.startswith(("http://", "https://")):
            raise InvalidInput(N_("The website must start with http:// or https://."))
        account.website = website[:256]
    if locale is not None:
        if locale and locale not in SUPPORTED_LOCALES:
            raise InvalidInput(N_("“%(locale)s” is not a language this site offers."), locale=locale)
        account.locale = locale
    account.updated_at = utcnow()
    session.add(account)
    return account


# --- avatars ------------------------------------------------------------------------------------------------

AVATAR_SIZE = 256


def avatar_path(avatars_dir: Path, account: Account) -> Path:
    return avatars_dir / f"{account.id}.png"


def set_avatar(session: Session, account: Account, data: bytes, *, avatars_dir: Path, max_bytes: int) -> None:
    """Store an uploaded image as a square 256x256 PNG. The old avatar stays until the new one is written."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidInput(N_("Choose an image file to upload."))
    if len(data) > max_bytes:
        raise InvalidInput(N_("The image is too large: the limit is %(kb)s KiB."), kb=max_bytes // 1024)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        image: Image.Image = Image.open(io.BytesIO(data))
        if image.width * image.height > 40_000_000:
            raise InvalidInput(N_("The image has too many pixels."))
        image = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(N_("The file is not an image we can read (use PNG, JPEG, GIF or WebP).")) from exc
    side = min(image.width, image.height)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((AVATAR_SIZE, AVATAR_SIZE))
    avatars_dir.mkdir(parents=True, exist_ok=True)
    target = avatar_path(avatars_dir, account)
    tmp = target.with_suffix(".tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, target)
    account.has_avatar = True
    account.avatar_version += 1
    session.add(account)


def remove_avatar(session: Session, account: Account, *, avatars_dir: Path) -> None:
    avatar_path(avatars_dir, account).unlink(missing_ok=True)
    account.has_avatar = False
    account.avatar_version += 1
    session.add(account)


# --- email addresses ----------------------------------------------------------------------------------------


def list_emails(session: Session, user: Account) -> list[EmailAddress]:
    stmt = select(EmailAddress).where(EmailAddress.account_id == user.id)
    return list(session.exec(stmt.order_by(col(EmailAddress.is_primary).desc(), col(EmailAddress.id))))


def primary_email(session: Session, user: Account) -> str:
    for addr in list_emails(session, user):
        if addr.is_primary:
            return addr.email
    return ""


def add_email(session: Session, user: Account, email: str) -> EmailAddress:
    email = validate_email(email)
    _check_email_free(session, email)
    assert user.id is not None
    is_first = not list_emails(session, user)
    addr = EmailAddress(account_id=user.id, email=email, lower_email=email.lower(), is_primary=is_first)
    session.add(addr)
    session.flush()
    return addr


def _own_email(session: Session, user: Account, email_id: int) -> EmailAddress:
    addr = session.get(EmailAddress, email_id)
    if addr is None or addr.account_id != user.id:
        raise NotFound(N_("That email address was not found."))
    return addr


def delete_email(session: Session, user: Account, email_id: int) -> None:
    addr = _own_email(session, user, email_id)
    if addr.is_primary:
        raise InvalidInput(N_("The primary email address cannot be removed; make another one primary first."))
    session.delete(addr)


def set_primary_email(session: Session, user: Account, email_id: int) -> None:
    addr = _own_email(session, user, email_id)
    for other in list_emails(session, user):
        other.is_primary = other.id == addr.id
        session.add(other)


# --- admin actions ------------------------------------------------------------------------------------------


def set_blocked(session: Session, actor: Account, user: Account, blocked: bool) -> None:
    if user.id == actor.id:
        raise InvalidInput(N_("You cannot block yourself."))
    user.is_blocked = blocked
    session.add(user)
    if blocked:
        # Blocking takes effect at once: every signed-in browser of the user is signed out.
        for ws in session.exec(select(WebSession).where(WebSession.account_id == user.id)):
            session.delete(ws)


def set_admin(session: Session, actor: Account, user: Account, is_admin: bool) -> None:
    if user.id == actor.id and not is_admin:
        raise InvalidInput(N_("You cannot remove your own administrator rights."))
    user.is_admin = is_admin
    session.add(user)


def approve(session: Session, user: Account) -> None:
    user.is_active = True
    session.add(user)


def sole_owned_orgs(session: Session, user: Account) -> list[Account]:
    """Organisations where ``user`` is the only owner (deleting the user would orphan them)."""
    result = []
    for membership in session.exec(
        select(OrgMember).where(OrgMember.user_id == user.id, OrgMember.is_owner == True)  # noqa: E712
    ):
        owners = session.exec(
            select(func.count())
            .select_from(OrgMember)
            .where(OrgMember.org_id == membership.org_id, OrgMember.is_owner == True)  # noqa: E712
        ).one()
        if owners == 1:
            org = session.get(Account, membership.org_id)
            if org is not None:
                result.append(org)
    return result
