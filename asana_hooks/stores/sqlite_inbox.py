"""The durable inbox in one SQLite file, for a receiver on one machine.

Same durability rules as :class:`~asana_hooks.stores.sqlite.SQLiteStore`:

* ``journal_mode=WAL; synchronous=FULL``: when ``put`` returns, the batch is on disk, before the
  receiver answers 200; a kill -9 right after loses nothing.
* The database, WAL and SHM files are ``0600`` (bodies are customer data).
* Every change is one ``BEGIN IMMEDIATE`` transaction, so several processes may share the file:
  a batch is persisted together with its duplicate-suppression marks, and a claim is taken by
  exactly one worker.
* Calls run in a worker thread (``anyio.to_thread``), one at a time over one connection.
* ``sqlite3`` failures surface as :class:`~asana_hooks.errors.StoreError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from asana_hooks.inbox import DeadLetter, InboxEntry, fresh_fingerprints, seen_key
from asana_hooks.stores.sqlite_file import SQLiteFile, transaction

__all__ = ["SQLiteInbox"]

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    body BLOB NOT NULL,
    fingerprints TEXT NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    not_before REAL NOT NULL,
    claimed_by TEXT,
    claimed_at REAL
);
CREATE INDEX IF NOT EXISTS inbox_entries_due ON inbox_entries (not_before);
CREATE TABLE IF NOT EXISTS inbox_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL,
    token TEXT NOT NULL,
    body BLOB NOT NULL,
    fingerprints TEXT NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    last_error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox_seen_events (
    key TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_seen_events_by_time ON inbox_seen_events (seen_at);
"""

_CLAIMABLE = (
    "SELECT id, entry_id, token, body, fingerprints, received_at, attempts, last_error"
    " FROM inbox_entries WHERE not_before <= ? AND (claimed_at IS NULL OR claimed_at <= ?)"
    " ORDER BY not_before, id LIMIT 1"
)


def _fingerprints(text: str) -> tuple[str, ...]:
    decoded = json.loads(text)
    if not isinstance(decoded, list) or not all(isinstance(f, str) for f in decoded):
        raise ValueError("stored fingerprints are not a list of strings")
    return tuple(decoded)


def _row_id(entry: InboxEntry) -> int:
    return int(entry.receipt.partition(":")[0])


def _claimer(entry: InboxEntry) -> str:
    return entry.receipt.partition(":")[2]


class SQLiteInbox:
    """Persisted batches, dead letters and duplicate marks in a SQLite file, opened on first use.

    Args:
        path: The database file (it may be the secret store's file); its parent directory is
            created (``0700``) when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = SQLiteFile(path, schema=_SCHEMA, what="SQLite inbox")

    def __repr__(self) -> str:
        return f"SQLiteInbox(path={str(self._file.path)!r})"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._file.path

    async def put(
        self, token: str, body: bytes, fingerprints: Sequence[str], now: float, window: float | None
    ) -> str | None:
        """Persist the batch's fresh events and mark them seen, in one transaction."""
        entry_id = uuid.uuid4().hex

        def work(conn: sqlite3.Connection) -> str | None:
            with transaction(conn):
                seen: dict[str, float] = {}
                if window is not None:
                    conn.execute("DELETE FROM inbox_seen_events WHERE seen_at <= ?", (now - window,))
                    for fingerprint in set(fingerprints):
                        row = conn.execute(
                            "SELECT seen_at FROM inbox_seen_events WHERE key = ?",
                            (seen_key(token, fingerprint),),
                        ).fetchone()
                        if row is not None:
                            seen[fingerprint] = float(row[0])
                fresh = fresh_fingerprints(fingerprints, seen, now, window)
                if not fresh:
                    return None
                if window is not None:
                    conn.executemany(
                        "INSERT OR REPLACE INTO inbox_seen_events (key, seen_at) VALUES (?, ?)",
                        [(seen_key(token, fingerprint), now) for fingerprint in fresh],
                    )
                conn.execute(
                    "INSERT INTO inbox_entries (entry_id, token, body, fingerprints, received_at, not_before)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (entry_id, token, bytes(body), json.dumps(fresh), now, now),
                )
                return entry_id

        return await self._file.run(work)

    async def claim(self, consumer: str, now: float, lease: float) -> InboxEntry | None:
        """Lease the oldest due batch that no live lease holds."""

        def work(conn: sqlite3.Connection) -> InboxEntry | None:
            with transaction(conn):
                row = conn.execute(_CLAIMABLE, (now, now - lease)).fetchone()
                if row is None:
                    return None
                rowid, entry_id, token, body, fingerprints, received_at, attempts, last_error = row
                conn.execute(
                    "UPDATE inbox_entries SET claimed_by = ?, claimed_at = ? WHERE id = ?",
                    (consumer, now, rowid),
                )
            return InboxEntry(
                entry_id=entry_id,
                receipt=f"{rowid}:{consumer}",
                token=token,
                body=bytes(body),
                fingerprints=_fingerprints(fingerprints),
                received_at=received_at,
                attempts=attempts,
                last_error=last_error,
            )

        return await self._file.run(work)

    async def _holder_update(self, statement: str, entry: InboxEntry, *values: Any) -> None:
        # Only the lease holder may change a claimed entry: a worker whose lease ran out and was
        # taken over must not clobber the new holder's state. Every statement ends in that check.
        params = (*values, _row_id(entry), _claimer(entry))
        await self._file.run(lambda conn: conn.execute(statement, params))

    async def renew(self, entry: InboxEntry, now: float) -> None:
        """Extend the lease of a claimed batch."""
        await self._holder_update(
            "UPDATE inbox_entries SET claimed_at = ? WHERE id = ? AND claimed_by = ?", entry, now
        )

    async def release(self, entry: InboxEntry) -> None:
        """Give a claimed batch back unprocessed."""
        await self._holder_update(
            "UPDATE inbox_entries SET claimed_by = NULL, claimed_at = NULL WHERE id = ? AND claimed_by = ?",
            entry,
        )

    async def complete(self, entry: InboxEntry) -> None:
        """Forget a handled batch."""
        await self._file.run(
            lambda conn: conn.execute("DELETE FROM inbox_entries WHERE id = ?", (_row_id(entry),))
        )

    async def retry(self, entry: InboxEntry, error: str, not_before: float) -> None:
        """Count a failure; the batch is claimable again from ``not_before``."""
        await self._holder_update(
            "UPDATE inbox_entries SET attempts = attempts + 1, last_error = ?, not_before = ?,"
            " claimed_by = NULL, claimed_at = NULL WHERE id = ? AND claimed_by = ?",
            entry,
            error,
            not_before,
        )

    async def dead_letter(self, entry: InboxEntry, error: str, now: float) -> None:
        """Count a failure and move the batch to the dead letters."""

        def work(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                deleted = conn.execute(
                    "DELETE FROM inbox_entries WHERE id = ? AND claimed_by = ?",
                    (_row_id(entry), _claimer(entry)),
                ).rowcount
                if deleted:
                    conn.execute(
                        "INSERT INTO inbox_dead_letters (entry_id, token, body, fingerprints, received_at,"
                        " attempts, failed_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            entry.entry_id,
                            entry.token,
                            entry.body,
                            json.dumps(list(entry.fingerprints)),
                            entry.received_at,
                            entry.attempts + 1,
                            now,
                            error,
                        ),
                    )

        await self._file.run(work)

    async def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""

        def work(conn: sqlite3.Connection) -> list[DeadLetter]:
            rows = conn.execute(
                "SELECT entry_id, token, body, fingerprints, received_at, attempts, failed_at, last_error"
                " FROM inbox_dead_letters ORDER BY id"
            ).fetchall()
            return [
                DeadLetter(
                    entry_id=entry_id,
                    token=token,
                    body=bytes(body),
                    fingerprints=_fingerprints(fingerprints),
                    received_at=received_at,
                    attempts=attempts,
                    failed_at=failed_at,
                    last_error=last_error,
                )
                for entry_id, token, body, fingerprints, received_at, attempts, failed_at, last_error in rows
            ]

        return await self._file.run(work)

    async def backlog(self) -> int:
        """Batches waiting, leased or due for retry."""
        return await self._file.run(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM inbox_entries").fetchone()[0])
        )

    async def aclose(self) -> None:
        """Close the connection; later calls raise StoreError. Safe to call twice."""
        await self._file.aclose()

    async def __aenter__(self) -> Self:
        await self._file.run(lambda conn: None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
