"""Where the CLI gets its token, base URL, store and filters from.

The token comes from ``--token-file`` or ``$ASANA_ACCESS_TOKEN`` only: a token on the command line
would sit in the shell history and in every other user's ``ps`` listing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from pydantic import ValidationError

from asana_hooks.config import DEFAULT_BASE_URL, ClientConfig, RetryPolicy
from asana_hooks.errors import InvalidRequestError
from asana_hooks.models import WebhookFilter

__all__ = ["BASE_URL_ENV", "TOKEN_ENV", "client_config", "default_store_url", "parse_filter", "read_token"]

TOKEN_ENV = "ASANA_ACCESS_TOKEN"  # noqa: S105 - the name of the variable, not a token
BASE_URL_ENV = "ASANA_BASE_URL"

# Resource types, subtypes, actions and field names are snake_case words in Asana's API.
# snake_case names, at most 100 characters (no Asana name is longer)
_WORD = re.compile(r"[a-z][a-z0-9_]{0,99}")


async def read_token(token_file: str | None) -> str:
    """The token from ``--token-file`` (first line, trimmed) or ``$ASANA_ACCESS_TOKEN``.

    Raises:
        InvalidRequestError: The file cannot be read or is empty, or no token is set. The message
            names the file or variable, never its content.
    """
    if token_file:
        try:
            text = await anyio.Path(token_file).read_text(encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InvalidRequestError(f"cannot read the token file {token_file}: {reason}") from None
        except UnicodeDecodeError:
            raise InvalidRequestError(f"the token file {token_file} is not UTF-8 text") from None
        token = text.strip()
        if not token:
            raise InvalidRequestError(f"the token file {token_file} is empty")
        if any(character.isspace() for character in token):
            raise InvalidRequestError(f"the token file {token_file} must hold the token alone")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise InvalidRequestError(
            f"no Asana token: set {TOKEN_ENV} or pass --token-file PATH "
            "(tokens are never read from the command line)"
        )
    return token


def client_config(base_url: str | None) -> ClientConfig:
    """The client configuration for ``--base-url``, else ``$ASANA_BASE_URL``, else Asana's.

    Raises:
        InvalidRequestError: The URL is not ``http(s)://HOST[:PORT]/path``.
    """
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port, which urlsplit parses lazily
    except ValueError:
        raise InvalidRequestError("bad base URL: it could not be parsed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(
            "bad base URL: use http(s)://HOST[:PORT]/api/1.0 (from --base-url or $ASANA_BASE_URL)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidRequestError("bad base URL: it must not carry credentials, a query or a fragment")
    try:
        # Shorter than the library's defaults: a person is waiting. 30 s still leaves a create
        # room for Asana's handshake, and 3 attempts bound a dead API to about a minute and a half.
        return ClientConfig(base_url=url, timeout=30.0, retry=RetryPolicy(max_attempts=3))
    except ValueError as exc:
        raise InvalidRequestError(f"bad base URL: {exc}") from None


def default_store_url() -> str:
    """SQLite under the user's data directory (``$XDG_DATA_HOME`` or ``~/.local/share``)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    path = Path(data_home).expanduser().absolute() / "asana-hooks" / "secrets.sqlite3"
    return "sqlite://" + path.as_posix()


# Asana's filter keys and the actions its webhooks know (WebhookFilter in the OpenAPI spec). The
# compact syntax accepts only these actions, to catch typos; a JSON filter can carry a newer one.
_FILTER_KEYS = frozenset({"resource_type", "resource_subtype", "action", "fields"})
_ACTIONS = frozenset({"added", "changed", "deleted", "removed", "undeleted"})


def parse_filter(text: str) -> WebhookFilter:
    """Parse one ``--filter``: ``TYPE[/SUBTYPE][:ACTION[:FIELD,FIELD...]]`` or a JSON object.

    Examples: ``task``, ``task:changed:name,due_on``, ``task/milestone:added``,
    ``{"resource_type": "project", "action": "changed"}``. Fields imply the action ``changed``.

    Raises:
        InvalidRequestError: The text is neither form, or names fields with another action.
    """
    text = text.strip()
    if text.startswith("{"):
        return _json_filter(text)
    parts = text.split(":")
    if len(parts) > 3:
        raise InvalidRequestError(f"--filter {text!r}: use TYPE[/SUBTYPE][:ACTION[:FIELD,...]]")
    kind, action, fields = (*parts, "", "")[:3]
    resource_type, slash, subtype = kind.partition("/")
    if slash and not subtype:
        raise InvalidRequestError(f"--filter {text!r}: the subtype after '/' is missing")
    names = [name.strip() for name in fields.split(",")] if fields else []
    if any(not name for name in names):
        raise InvalidRequestError(f"--filter {text!r}: a field name between commas is empty")
    words = [("resource type", resource_type, True), ("subtype", subtype, False), ("action", action, False)]
    words += [("field", name, True) for name in names]
    for label, word, required in words:
        if (required or word) and not _WORD.fullmatch(word):
            shown = repr(word) if word else "missing"
            raise InvalidRequestError(
                f"--filter {text!r}: the {label} is {shown}; expected snake_case names, "
                "e.g. task:changed:name,due_on"
            )
    _check_action(text, action or None)
    if names and action not in ("", "changed"):
        raise InvalidRequestError(f"--filter {text!r}: fields are only valid with the action 'changed'")
    return WebhookFilter(
        resource_type=resource_type,
        resource_subtype=subtype or None,
        action=action or ("changed" if names else None),
        fields=names or None,
    )


def _json_filter(text: str) -> WebhookFilter:
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise InvalidRequestError(f"--filter {text!r} is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"--filter {text!r}: JSON filters must be objects")
    if not any(data.get(key) is not None for key in _FILTER_KEYS):
        # Unknown keys ride along (Asana may add some), but a filter made of nothing else is a typo.
        raise InvalidRequestError(f"--filter {text!r}: set at least one of {', '.join(sorted(_FILTER_KEYS))}")
    try:
        parsed = WebhookFilter.model_validate(data)
    except ValidationError as exc:
        keys = ", ".join(sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()}))
        raise InvalidRequestError(f"--filter {text!r}: wrong type for {keys}") from None
    return parsed


def _check_action(text: str, action: str | None) -> None:
    if action is not None and action not in _ACTIONS:
        raise InvalidRequestError(
            f"--filter {text!r}: unknown action {action!r}; use one of {', '.join(sorted(_ACTIONS))}"
        )
