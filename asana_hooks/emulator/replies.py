"""Asana-shaped replies: the `{"data": ...}` envelope, the `{"errors": [...]}` shape, and the refusal type."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = ["HELP", "RATE_LIMITED", "ApiError", "dumps", "error_payload", "json_response", "phrase"]

HELP = (
    "For more information on API status codes and how to handle them, read the docs on errors: "
    "https://developers.asana.com/docs/errors"
)
RATE_LIMITED = (
    "You've made too many requests and hit a rate limit. Please retry after the given amount of time."
)

# Words for the support phrase Asana attaches to 500 errors ("6 sad squid snuggle softly").
_ADJECTIVES = ("sad", "happy", "sleepy", "brave", "quiet", "eager", "fuzzy", "shiny")
_ANIMALS = ("squid", "otters", "llamas", "herons", "pandas", "geckos", "badgers", "moles")
_VERBS = ("snuggle", "wander", "giggle", "ponder", "dance", "whisper", "tumble", "sparkle")
_ADVERBS = ("softly", "boldly", "slowly", "gladly", "calmly", "wildly", "neatly", "oddly")


class ApiError(Exception):
    """A refusal to answer in Asana's error shape.

    Args:
        status: The HTTP status.
        message: The error's `message` (never contains a token or secret).
        headers: Extra response headers (e.g. `Retry-After`).
        extra: Additional keys for the error object (e.g. `error`, `user_message`).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> web.Response:
        """The aiohttp response carrying this error."""
        return json_response(
            error_payload(self.status, self.message, self.extra), status=self.status, headers=self.headers
        )


def phrase() -> str:
    """A support phrase like the ones Asana puts on 500 errors."""
    words = [secrets.choice(group) for group in (_ADJECTIVES, _ANIMALS, _VERBS, _ADVERBS)]
    return " ".join([str(2 + secrets.randbelow(8)), *words])


def error_payload(status: int, message: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`{"errors": [{"message", "help", ...}]}`; 500s also get a `phrase`."""
    error: dict[str, Any] = {"message": message, "help": HELP, **(extra or {})}
    if status == 500:
        error["phrase"] = phrase()
    return {"errors": [error]}


def dumps(payload: Any, *, pretty: bool = False) -> bytes:
    """JSON bytes: compact, as Asana sends them, or indented for `opt_pretty`."""
    if pretty:
        return json.dumps(payload, indent=2).encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(
    payload: Any, *, status: int = 200, pretty: bool = False, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An `application/json` response."""
    return web.Response(
        body=dumps(payload, pretty=pretty),
        status=status,
        content_type="application/json",
        charset="UTF-8",
        headers=dict(headers or {}),
    )
