"""The durable default secret store: one SQLite file.

Asana sends a webhook's secret once, at the handshake, so losing it means re-creating the webhook.
Invariants:

* ``PRAGMA journal_mode=WAL; synchronous=FULL``: when ``capture_handshake`` returns ACCEPTED the
  secret is on disk, before the receiver acknowledges the handshake.
* The database file, and the WAL and SHM files SQLite derives from its mode, are ``0600``.
* The capture rule runs inside one ``BEGIN IMMEDIATE`` transaction, so two handshakes for the same
  token (from two processes, even) cannot both be accepted.
* Every call runs in a worker thread (``anyio.to_thread``), one at a time over one connection, so
  the event loop never blocks on disk I/O.
* ``sqlite3`` failures surface as :class:`~asana_hooks.errors.StoreError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from asana_hooks.errors import InvalidRequestError, StoreError
from asana_hooks.handshake import (
    CaptureOutcome,
    PendingCreate,
    SubscriptionRecord,
    decide_capture,
    record_from_capture,
)
from asana_hooks.stores.sqlite_file import SQLiteFile, transaction

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_creates (
    token TEXT PRIMARY KEY,
    resource_gid TEXT NOT NULL,
    target TEXT NOT NULL,
    filters TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    token TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    resource_gid TEXT NOT NULL,
    target TEXT NOT NULL,
    filters TEXT NOT NULL,
    webhook_gid TEXT,
    created_at REAL NOT NULL,
    last_seen_at REAL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_webhook ON subscriptions (webhook_gid);
"""

# Whole statements as literals: only values are ever bound, never spliced in.
_RECORD_BY_PATH = (
    "SELECT token, secret, resource_gid, target, filters, webhook_gid, created_at, last_seen_at"
    " FROM subscriptions WHERE token = ?"
)
_RECORD_BY_WEBHOOK = (
    "SELECT token, secret, resource_gid, target, filters, webhook_gid, created_at, last_seen_at"
    " FROM subscriptions WHERE webhook_gid = ? ORDER BY created_at LIMIT 1"
)
_ALL_RECORDS = (
    "SELECT token, secret, resource_gid, target, filters, webhook_gid, created_at, last_seen_at"
    " FROM subscriptions ORDER BY created_at, token"
)
_INSERT_RECORD = (
    "INSERT INTO subscriptions"
    " (token, secret, resource_gid, target, filters, webhook_gid, created_at, last_seen_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_PENDING_BY_PATH = (
    "SELECT token, resource_gid, target, filters, expires_at FROM pending_creates WHERE token = ?"
)
_INSERT_PENDING = (
    "INSERT INTO pending_creates (token, resource_gid, target, filters, expires_at) VALUES (?, ?, ?, ?, ?)"
)
_TOUCH = "UPDATE subscriptions SET last_seen_at = ? WHERE token = ?"


def _filters(text: str) -> tuple[dict[str, Any], ...]:
    decoded = json.loads(text)
    if not isinstance(decoded, list) or not all(isinstance(f, dict) for f in decoded):
        raise ValueError("stored filters are not a list of objects")
    return tuple(decoded)


def _record(row: tuple[Any, ...]) -> SubscriptionRecord:
    token, secret, resource_gid, target, filters, webhook_gid, created_at, last_seen_at = row
    return SubscriptionRecord(
        token=token,
        secret=secret,
        resource_gid=resource_gid,
        target=target,
        filters=_filters(filters),
        webhook_gid=webhook_gid,
        created_at=created_at,
        last_seen_at=last_seen_at,
    )


def _pending(row: tuple[Any, ...]) -> PendingCreate:
    token, resource_gid, target, filters, expires_at = row
    return PendingCreate(
        token=token,
        resource_gid=resource_gid,
        target=target,
        filters=_filters(filters),
        expires_at=expires_at,
    )


class SQLiteStore:
    """Pending creates and records in a SQLite file, opened on first use.

    Args:
        path: The database file; its parent directory is created (``0700``) when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = SQLiteFile(path, schema=_SCHEMA, what="SQLite store")

    def __repr__(self) -> str:
        return f"SQLiteStore(path={str(self._file.path)!r})"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._file.path

    async def add_pending(self, pending: PendingCreate) -> None:
        """Arm the handshake for ``pending.token``."""

        def work(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                taken = conn.execute(
                    "SELECT 1 FROM pending_creates WHERE token = ? "
                    "UNION ALL SELECT 1 FROM subscriptions WHERE token = ?",
                    (pending.token, pending.token),
                ).fetchone()
                if taken:
                    return False
                conn.execute(
                    _INSERT_PENDING,
                    (
                        pending.token,
                        pending.resource_gid,
                        pending.target,
                        json.dumps(list(pending.filters)),
                        pending.expires_at,
                    ),
                )
                return True

        if not await self._file.run(work):
            raise InvalidRequestError("that path token is already in use")

    async def capture_handshake(self, token: str, secret: str, now: float) -> CaptureOutcome:
        """Apply the capture rule in one immediate transaction; ACCEPTED means committed."""

        def work(conn: sqlite3.Connection) -> CaptureOutcome:
            with transaction(conn):
                conn.execute("DELETE FROM pending_creates WHERE expires_at <= ?", (now,))
                row = conn.execute(_PENDING_BY_PATH, (token,)).fetchone()
                pending = _pending(row) if row else None
                row = conn.execute(_RECORD_BY_PATH, (token,)).fetchone()
                existing = _record(row) if row else None
                outcome = decide_capture(pending, existing, secret, now)
                if outcome is CaptureOutcome.ACCEPTED and pending is not None:
                    record = record_from_capture(pending, secret, now)
                    conn.execute(
                        _INSERT_RECORD,
                        (
                            record.token,
                            record.secret,
                            record.resource_gid,
                            record.target,
                            json.dumps(list(record.filters)),
                            None,
                            record.created_at,
                            None,
                        ),
                    )
                return outcome

        return await self._file.run(work)

    async def clear_pending(self, token: str) -> None:
        """Disarm the handshake for ``token``."""
        await self._file.run(
            lambda conn: conn.execute("DELETE FROM pending_creates WHERE token = ?", (token,))
        )

    async def get(self, token: str) -> SubscriptionRecord | None:
        """The record for ``token``, or None."""

        def work(conn: sqlite3.Connection) -> SubscriptionRecord | None:
            row = conn.execute(_RECORD_BY_PATH, (token,)).fetchone()
            return _record(row) if row else None

        return await self._file.run(work)

    async def find_by_webhook(self, webhook_gid: str) -> SubscriptionRecord | None:
        """The record attached to ``webhook_gid``, or None."""

        def work(conn: sqlite3.Connection) -> SubscriptionRecord | None:
            row = conn.execute(
                _RECORD_BY_WEBHOOK,
                (webhook_gid,),
            ).fetchone()
            return _record(row) if row else None

        return await self._file.run(work)

    async def list_records(self) -> list[SubscriptionRecord]:
        """Every record, oldest first."""

        def work(conn: sqlite3.Connection) -> list[SubscriptionRecord]:
            rows = conn.execute(_ALL_RECORDS).fetchall()
            return [_record(row) for row in rows]

        return await self._file.run(work)

    async def attach_webhook(self, token: str, webhook_gid: str) -> None:
        """Set the record's webhook gid."""

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE subscriptions SET webhook_gid = ? WHERE token = ?", (webhook_gid, token)
            )
            return cursor.rowcount

        if await self._file.run(work) == 0:
            raise StoreError("no subscription record for that path token")

    async def touch(self, token: str, now: float) -> None:
        """Note a verified delivery at ``now``."""
        await self._file.run(
            lambda conn: conn.execute(
                "UPDATE subscriptions SET last_seen_at = ? WHERE token = ?", (now, token)
            )
        )

    async def delete(self, token: str) -> None:
        """Forget the record and any pending create for ``token``."""

        def work(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute("DELETE FROM subscriptions WHERE token = ?", (token,))
                conn.execute("DELETE FROM pending_creates WHERE token = ?", (token,))

        await self._file.run(work)

    async def aclose(self) -> None:
        """Close the connection; later calls raise StoreError."""
        await self._file.aclose()

    async def __aenter__(self) -> Self:
        # Open now, so a bad path or a corrupt file fails at startup rather than at a handshake.
        await self._file.run(lambda conn: None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
