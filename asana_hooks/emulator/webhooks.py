"""The state of one emulated webhook, its Asana-shaped records, and `opt_fields` selection."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asana_hooks.emulator.clock import isoformat

__all__ = ["COMPACT_FIELDS", "Webhook", "select_fields"]

#: What `GET /webhooks` returns without `opt_fields` (besides `gid`).
COMPACT_FIELDS = ("resource_type", "active", "resource", "target")


@dataclass(kw_only=True, eq=False)
class Webhook:
    """One established webhook: the record Asana shows, plus its delivery queue.

    Times are clock seconds; `records` renders them as Asana timestamps.
    """

    gid: str
    resource: dict[str, Any]
    workspace_gid: str
    target: str
    filters: list[dict[str, Any]]
    secret: str = field(repr=False)
    created_at: float
    next_heartbeat_at: float
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_failure_content: str = ""
    delivery_retry_count: int = 0
    next_attempt_after: float | None = None
    failure_deletion_timestamp: float | None = None
    # Events waiting for the batch window to close.
    pending: list[dict[str, Any]] = field(default_factory=list)
    # Signed-to-be bodies in sending order; the head is retried until it succeeds.
    outbox: deque[bytes] = field(default_factory=deque)
    # A batch held back by the reorder fault, sent after the next one.
    held: bytes | None = None
    in_flight: bool = False
    deleted: bool = False

    def full_record(self) -> dict[str, Any]:
        """The full record, as `GET /webhooks/{gid}` and create/update return it."""
        return {
            "gid": self.gid,
            "resource_type": "webhook",
            "is_workspace_webhook": self.resource["resource_type"] == "workspace",
            "active": True,
            "resource": dict(self.resource),
            "target": self.target,
            "created_at": isoformat(self.created_at),
            "last_success_at": _iso(self.last_success_at),
            "last_failure_at": _iso(self.last_failure_at),
            "last_failure_content": self.last_failure_content,
            "delivery_retry_count": self.delivery_retry_count,
            "next_attempt_after": _iso(self.next_attempt_after),
            "failure_deletion_timestamp": _iso(self.failure_deletion_timestamp),
            "filters": [dict(flt) for flt in self.filters],
        }

    def record(self, opt_fields: Sequence[str] | None, *, compact: bool) -> dict[str, Any]:
        """The record to return: `opt_fields` when given, else compact or full."""
        full = self.full_record()
        if opt_fields is not None:
            return select_fields(full, opt_fields)
        if compact:
            return select_fields(full, COMPACT_FIELDS)
        return full


def select_fields(record: Mapping[str, Any], opt_fields: Sequence[str]) -> dict[str, Any]:
    """Keep `gid` plus the requested fields; ``a.b`` keeps `b` (and the `gid`) inside `a`.

    Unknown names are ignored, as are the list endpoint's ``offset``, ``path`` and ``uri``.
    """
    selected: dict[str, Any] = {"gid": record["gid"]} if "gid" in record else {}
    nested: dict[str, list[str]] = {}
    for name in opt_fields:
        head, _, rest = name.partition(".")
        if head not in record:
            continue
        if rest:
            nested.setdefault(head, []).append(rest)
        else:
            selected[head] = record[head]
    for head, rests in nested.items():
        if head in selected:
            continue  # the whole value was asked for as well
        value = record[head]
        if isinstance(value, Mapping):
            selected[head] = select_fields(value, rests)
        elif isinstance(value, list):
            selected[head] = [
                select_fields(item, rests) if isinstance(item, Mapping) else item for item in value
            ]
        else:
            selected[head] = value
    return selected


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else isoformat(timestamp)
