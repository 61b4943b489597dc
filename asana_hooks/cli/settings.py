"""Where the CLI gets its token, base URL, store and filters from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from asana_hooks.config import DEFAULT_BASE_URL, ClientConfig
from asana_hooks.errors import InvalidRequestError
from asana_hooks.models import WebhookFilter

__all__ = ["client_config", "default_store_url", "parse_filter", "read_token"]

TOKEN_ENV = "ASANA_ACCESS_TOKEN"  # noqa: S105 - the name of the variable, not a token
BASE_URL_ENV = "ASANA_BASE_URL"


def read_token(token_file: str | None) -> str:
    """The token from ``--token-file`` or ``$ASANA_ACCESS_TOKEN``; never from argv."""
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read the token file {token_file}: {exc.strerror}") from None
        if not token:
            raise InvalidRequestError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise InvalidRequestError(f"no token: set {TOKEN_ENV} or pass --token-file PATH")
    return token


def client_config(base_url: str | None) -> ClientConfig:
    """The client configuration for ``--base-url`` or ``$ASANA_BASE_URL`` (default: Asana)."""
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        return ClientConfig(base_url=url)
    except ValueError as exc:
        raise InvalidRequestError(f"bad base URL: {exc}") from None


def default_store_url() -> str:
    """SQLite under the user's data directory (``$XDG_DATA_HOME`` or ``~/.local/share``)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return "sqlite:///" + str(Path(data_home) / "asana-hooks" / "secrets.sqlite3").lstrip("/")


def parse_filter(text: str) -> WebhookFilter:
    """Parse ``--filter``: a JSON object, or ``TYPE[/SUBTYPE][:ACTION[:FIELD,FIELD...]]``.

    Examples: ``task``, ``task:changed:name,due_on``, ``task/milestone:added``,
    ``{"resource_type": "project", "action": "changed"}``.
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            data: Any = json.loads(text)
        except ValueError:
            raise InvalidRequestError(f"--filter {text!r} is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidRequestError("--filter JSON must be an object")
        return WebhookFilter.model_validate(data)
    kind, _, rest = text.partition(":")
    action, _, fields = rest.partition(":")
    resource_type, _, subtype = kind.partition("/")
    if not resource_type:
        raise InvalidRequestError(f"--filter {text!r} names no resource type")
    names = [name.strip() for name in fields.split(",") if name.strip()] if fields else None
    if names and action and action != "changed":
        raise InvalidRequestError("--filter fields are only valid with the action 'changed'")
    return WebhookFilter(
        resource_type=resource_type,
        resource_subtype=subtype or None,
        action=action or ("changed" if names else None),
        fields=names,
    )
