"""Password hashing with argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from forge.errors import InvalidInput
from forge.i18n import N_

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(N_("Passwords must be at least %(n)s characters long."), n=MIN_PASSWORD_LENGTH)
    if len(password) > 1024:
        raise InvalidInput(N_("Passwords may be at most 1024 characters long."))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# A hash verified against when the account does not exist, so a missing user costs as much time as a wrong
# password and response timing does not reveal which names exist.
DUMMY_HASH = _hasher.hash("not-a-real-password")
