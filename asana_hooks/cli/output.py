"""How the CLI prints: tables for people, JSON for machines; diagnostics on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from asana_hooks.models import Webhook

__all__ = ["diagnostic", "print_json", "webhook_table"]


def print_json(payload: Any) -> None:
    """One compact JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(payload, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def diagnostic(message: str) -> None:
    """A line for the person at the terminal, on stderr."""
    print(message, file=sys.stderr, flush=True)


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


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook as JSON, keys Asana sent kept."""
    return webhook.model_dump(mode="json", exclude_unset=True)
