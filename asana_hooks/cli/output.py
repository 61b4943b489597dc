"""How the CLI prints: tables for people, JSON for machines; diagnostics and errors on stderr."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from asana_hooks.errors import (
    AsanaHooksError,
    LargerScopeFiltersRequired,
    RateLimited,
    StoreError,
    TransportError,
    Unauthorized,
)
from asana_hooks.models import Webhook

__all__ = [
    "diagnostic",
    "error_line",
    "print_json",
    "silence_stdout",
    "webhook_details",
    "webhook_json",
    "webhook_table",
]

# A receiver target ends in /h/<path token>: the token is the create's correlation key, so error lines
# keep only its first characters (enough to tell two apart), as the receiver's logs do.
_PATH_TOKEN = re.compile(r"(/h/[A-Za-z0-9_-]{4})[A-Za-z0-9_-]{8,}")

# What to do next, for the errors a person can act on. Library messages say what happened.
_HINTS: tuple[tuple[type[AsanaHooksError], str], ...] = (
    (Unauthorized, "check the token in $ASANA_ACCESS_TOKEN or --token-file"),
    (
        LargerScopeFiltersRequired,
        "webhooks on a workspace, team or portfolio need --filter from Asana's short list, "
        "e.g. --filter project:added",
    ),
    (TransportError, "check --base-url / $ASANA_BASE_URL and the network"),
    (StoreError, "check --store: its file must be writable, its server reachable"),
)


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader went away (``... | head -1``).

    Python flushes stdout at exit and would report the broken pipe again, with a traceback.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def print_json(payload: Any) -> None:
    """One compact JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(payload, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def diagnostic(message: str) -> None:
    """A line for the person at the terminal, on stderr."""
    print(message, file=sys.stderr, flush=True)


def error_line(error: AsanaHooksError) -> str:
    """The one line printed for an expected error: message, notes and a hint, whitespace folded.

    Error messages are built from status codes, gids and URLs only (see :mod:`asana_hooks.errors`),
    so nothing secret can reach this line; receiver path tokens in target URLs are shortened.
    """
    parts = [str(error) or type(error).__name__, *getattr(error, "__notes__", [])]
    if isinstance(error, RateLimited) and error.retry_after is not None:
        parts.append(f"Asana asks to retry after {error.retry_after:g} s")
    parts += [hint for kind, hint in _HINTS if isinstance(error, kind)]
    text = "; ".join(part.strip().rstrip(".;") for part in parts if part.strip())
    return "asana-hooks: error: " + _PATH_TOKEN.sub(r"\1...", " ".join(text.split()))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def webhook_table(webhooks: Sequence[Webhook]) -> str:
    """A plain-text table of webhooks: gid, active, resource, target."""
    rows = [("GID", "ACTIVE", "RESOURCE", "TARGET")]
    for hook in webhooks:
        resource = hook.resource.gid if hook.resource else None
        rows.append((hook.gid, _cell(hook.active), _cell(resource), _cell(hook.target)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]).rstrip() for row in rows]
    return "\n".join(lines)


def _filter_text(webhook: Webhook) -> str:
    if not webhook.filters:
        return "none (every event)"
    shown = []
    for entry in webhook.filters:
        kind = (entry.resource_type or "*") + (f"/{entry.resource_subtype}" if entry.resource_subtype else "")
        action = f":{entry.action}" if entry.action else ""
        fields = f":{','.join(entry.fields)}" if entry.fields else ""
        shown.append(kind + action + fields)
    return " ".join(shown)


def webhook_details(webhook: Webhook) -> str:
    """One webhook as ``key: value`` lines, delivery health included when Asana sent it."""
    resource = None
    if webhook.resource is not None:
        kind, name = webhook.resource.resource_type, webhook.resource.name
        resource = " ".join(
            [webhook.resource.gid, *([f"({kind})"] if kind else []), *([f'"{name}"'] if name else [])]
        )
    rows: list[tuple[str, Any]] = [
        ("gid", webhook.gid),
        ("active", webhook.active),
        ("resource", resource),
        ("target", webhook.target),
        ("filters", _filter_text(webhook) if webhook.filters is not None else None),
        ("created_at", webhook.created_at),
        ("last_success_at", webhook.last_success_at),
        ("last_failure_at", webhook.last_failure_at),
        ("last_failure_content", webhook.last_failure_content),
        ("delivery_retry_count", webhook.delivery_retry_count),
        ("failure_deletion_timestamp", webhook.failure_deletion_timestamp),
    ]
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key + ':':<{width + 1}} {_cell(value)}" for key, value in rows)


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook as JSON, every key Asana sent kept (unknown ones too)."""
    return webhook.model_dump(mode="json", exclude_unset=True)
