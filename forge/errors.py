"""Domain errors. Services raise these; the web layer maps them to HTTP statuses in one place.

Messages are English source strings marked for translation; ``params`` fill their ``%(name)s`` placeholders
after translation, so the same error reads correctly in every locale.
"""

from __future__ import annotations

from typing import Any


class ForgeError(Exception):
    """Base of every error a user can cause. ``status`` is the HTTP status the web layer should use."""

    status = 400

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class NotFound(ForgeError):
    status = 404


class PermissionDenied(ForgeError):
    status = 403


class AuthenticationRequired(ForgeError):
    status = 401


class Conflict(ForgeError):
    status = 409


class InvalidInput(ForgeError):
    status = 422


class TooSlow(ForgeError):
    """Work that hit a server-side time limit (a blame or a search of a huge repository): not the reader's
    mistake, and trying again later may work, hence 503."""

    status = 503
