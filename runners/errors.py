"""What can go wrong talking to the forge: the exceptions the client raises, each with one sentence for the
operator."""

from __future__ import annotations


class ClientError(Exception):
    """A protocol call failed; the message is one sentence for the operator."""


class Unauthorized(ClientError):
    """The forge refused the token (401)."""


class JobGone(ClientError):
    """The forge no longer accepts this job's token (the job ended, was canceled or deleted)."""


class ServerUnavailable(ClientError):
    """The forge could not be reached or kept answering 5xx for longer than the caller wanted to wait."""


class ProtocolError(ClientError):
    """The forge answered something this runner does not understand, or refused the request (other 4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Stopped(ClientError):
    """The runner is stopping; a retried call gave up."""
