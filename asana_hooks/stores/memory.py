"""A secret store in process memory: for tests and throwaway runs.

Secrets vanish with the process, and Asana sends a secret only once, so after a restart every
delivery for these webhooks is refused until they are re-created. Use
:class:`~asana_hooks.stores.sqlite.SQLiteStore` for anything that must survive a restart.
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import Self

from asana_hooks.errors import InvalidRequestError, StoreError
from asana_hooks.handshake import (
    CaptureOutcome,
    PendingCreate,
    SubscriptionRecord,
    decide_capture,
    record_from_capture,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """Pending creates and records in dicts.

    No method awaits anything between reading and writing, so each runs atomically on the event
    loop without a lock (a lock would add two scheduler passes to every call on the hot path).
    Use it from one event loop only.
    """

    def __init__(self) -> None:
        self._pending: dict[str, PendingCreate] = {}
        self._records: dict[str, SubscriptionRecord] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryStore(records={len(self._records)}, pending={len(self._pending)})"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    async def add_pending(self, pending: PendingCreate) -> None:
        """Arm the handshake for ``pending.token``."""
        self._check_open()
        if pending.token in self._pending or pending.token in self._records:
            raise InvalidRequestError("that path token is already in use")
        self._pending[pending.token] = pending

    async def capture_handshake(self, token: str, secret: str, now: float) -> CaptureOutcome:
        """Apply the capture rule atomically; ACCEPTED means the record is stored."""
        self._check_open()
        for stale in [t for t, p in self._pending.items() if now >= p.expires_at]:
            del self._pending[stale]
        pending = self._pending.get(token)
        outcome = decide_capture(pending, self._records.get(token), secret, now)
        if outcome is CaptureOutcome.ACCEPTED and pending is not None:
            self._records[token] = record_from_capture(pending, secret, now)
        return outcome

    async def clear_pending(self, token: str) -> None:
        """Disarm the handshake for ``token``."""
        self._check_open()
        self._pending.pop(token, None)

    async def get(self, token: str) -> SubscriptionRecord | None:
        """The record for ``token``, or None."""
        self._check_open()
        return self._records.get(token)

    async def find_by_webhook(self, webhook_gid: str) -> SubscriptionRecord | None:
        """The record attached to ``webhook_gid``, or None."""
        self._check_open()
        for record in self._records.values():
            if record.webhook_gid == webhook_gid:
                return record
        return None

    async def list_records(self) -> list[SubscriptionRecord]:
        """Every record, oldest first."""
        self._check_open()
        return sorted(self._records.values(), key=lambda r: r.created_at)

    async def attach_webhook(self, token: str, webhook_gid: str) -> None:
        """Set the record's webhook gid."""
        self._check_open()
        record = self._records.get(token)
        if record is None:
            raise StoreError("no subscription record for that path token")
        self._records[token] = dataclasses.replace(record, webhook_gid=webhook_gid)

    async def touch(self, token: str, now: float) -> None:
        """Note a verified delivery at ``now``."""
        self._check_open()
        record = self._records.get(token)
        if record is not None:
            self._records[token] = dataclasses.replace(record, last_seen_at=now)

    async def delete(self, token: str) -> None:
        """Forget the record and any pending create for ``token``."""
        self._check_open()
        self._records.pop(token, None)
        self._pending.pop(token, None)

    async def aclose(self) -> None:
        """Drop everything; later calls raise StoreError."""
        self._closed = True
        self._records.clear()
        self._pending.clear()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
