"""Exit codes of the ``asana-hooks`` command, one per kind of expected failure."""

from __future__ import annotations

from enum import IntEnum

from asana_hooks.errors import (
    AsanaAPIError,
    AsanaHooksError,
    BadRequest,
    Forbidden,
    HandshakeError,
    InvalidRequestError,
    NotFound,
    RateLimited,
    StoreError,
    TransportError,
    Unauthorized,
)

__all__ = ["CommandFailed", "ExitCode", "describe_codes", "exit_code_for"]


class ExitCode(IntEnum):
    """What the process exit status means."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    UNAUTHORIZED = 3
    NOT_FOUND = 4
    RATE_LIMITED = 5
    FORBIDDEN = 6
    BAD_REQUEST = 7
    HANDSHAKE = 8
    TRANSPORT = 9
    API_ERROR = 10
    STORE = 11
    BIND = 12
    INTERRUPTED = 130


class CommandFailed(AsanaHooksError):
    """An expected failure of the command itself rather than of the library (e.g. a busy port).

    Attributes:
        code: The exit status to end with.
    """

    def __init__(self, message: str, code: ExitCode) -> None:
        self.code = code
        super().__init__(message)


# Most specific first: the first class the error is an instance of decides.
_CODES: tuple[tuple[type[AsanaHooksError], ExitCode], ...] = (
    (InvalidRequestError, ExitCode.USAGE),
    (Unauthorized, ExitCode.UNAUTHORIZED),
    (NotFound, ExitCode.NOT_FOUND),
    (RateLimited, ExitCode.RATE_LIMITED),
    (Forbidden, ExitCode.FORBIDDEN),
    (HandshakeError, ExitCode.HANDSHAKE),  # before BadRequest: HandshakeFailed is both
    (BadRequest, ExitCode.BAD_REQUEST),
    (TransportError, ExitCode.TRANSPORT),
    (AsanaAPIError, ExitCode.API_ERROR),
    (StoreError, ExitCode.STORE),
)


def exit_code_for(error: AsanaHooksError) -> ExitCode:
    """The exit code for an expected error."""
    if isinstance(error, CommandFailed):
        return error.code
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return ExitCode.INTERNAL


def describe_codes() -> str:
    """The table printed at the end of ``--help``."""
    meanings = {
        ExitCode.OK: "success",
        ExitCode.INTERNAL: "unexpected internal error",
        ExitCode.USAGE: "bad arguments, filter, base URL or store URL; missing token",
        ExitCode.UNAUTHORIZED: "Asana refused the token (401)",
        ExitCode.NOT_FOUND: "no such webhook or resource (404)",
        ExitCode.RATE_LIMITED: "still rate limited after retries (429)",
        ExitCode.FORBIDDEN: "refused (403): invalid target, duplicate webhook, no access",
        ExitCode.BAD_REQUEST: "bad request (400), e.g. filters required on a workspace",
        ExitCode.HANDSHAKE: "the handshake failed",
        ExitCode.TRANSPORT: "could not reach the API",
        ExitCode.API_ERROR: "other API error (5xx...)",
        ExitCode.STORE: "the secret store failed",
        ExitCode.BIND: "could not listen on --host/--port",
        ExitCode.INTERRUPTED: "interrupted",
    }
    return "\n".join(f"  {int(code):>3}  {text}" for code, text in meanings.items())
