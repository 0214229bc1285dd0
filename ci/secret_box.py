"""Encryption at rest for CI/CD variable values (and the masked values a running job's log hides).

Values are sealed with Fernet (AES-128-CBC with an HMAC-SHA256, from ``cryptography``) under a key derived from
the instance's secret key (``FORGE_SECRET_KEY`` or the generated ``$FORGE_HOME/secret_key``) with HKDF and a fixed
context string. So a copy of the database alone (a backup, a dump, SQL access) does not reveal a secret: the key
lives outside it. The fixed context means the cookie-signing use of the same secret key and this one never share
key material.

Changing the secret key makes every stored value unreadable (:class:`SecretUnreadable`): the variables pages
say so for each variable and ask for the value again; jobs do not get those variables.

The box for a database is installed once at start-up (``install(engine, secret_key)``, from ``web.app``), because
the places that need it — the dispatcher handing out a job, the log append — hold only a session. ``for_session``
finds it again from the session's engine.
"""

from __future__ import annotations

import base64
import weakref
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Engine
from sqlmodel import Session

from forge.errors import ForgeError
from forge.i18n import N_

# Changing this string makes every stored value unreadable, exactly like changing the secret key.
_CONTEXT = b"forge ci variables v1"


class SecretUnreadable(ForgeError):
    """A stored value cannot be decrypted: the instance's secret key changed since it was saved."""

    status = 409

    def __init__(self) -> None:
        super().__init__(N_("This value cannot be read: the site's secret key (FORGE_SECRET_KEY) changed after it "
                            "was saved. Enter the value again."))


class SecretsUnavailable(ForgeError):
    """No key was installed for this database (a start-up problem, not the user's)."""

    status = 500

    def __init__(self) -> None:
        super().__init__(N_("CI/CD variables cannot be read: the encryption key is not set up."))


@dataclass(frozen=True)
class SecretBox:
    """Seals and opens text values with one derived key."""

    fernet: Fernet

    @classmethod
    def from_secret_key(cls, secret_key: str) -> SecretBox:
        if not secret_key:
            raise ValueError("an empty secret key cannot protect anything")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(secret_key.encode())
        return cls(Fernet(base64.urlsafe_b64encode(derived)))

    def seal(self, value: str) -> str:
        return self.fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self.fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError) as exc:
            raise SecretUnreadable() from exc

    def can_open(self, sealed: str) -> bool:
        try:
            self.open(sealed)
        except SecretUnreadable:
            return False
        return True


_BOXES: weakref.WeakKeyDictionary[Engine, SecretBox] = weakref.WeakKeyDictionary()


def install(engine: Engine, secret_key: str) -> SecretBox:
    """Use the key derived from ``secret_key`` for values stored in ``engine``'s database."""
    box = SecretBox.from_secret_key(secret_key)
    _BOXES[engine] = box
    return box


def for_engine(engine: Engine) -> SecretBox:
    box = _BOXES.get(engine)
    if box is None:
        raise SecretsUnavailable()
    return box


def for_session(session: Session) -> SecretBox:
    bind = session.get_bind()
    engine = bind.engine if not isinstance(bind, Engine) else bind
    return for_engine(engine)
