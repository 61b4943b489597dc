"""One private, durable SQLite file, used from the event loop without blocking it.

Shared by :class:`~asana_hooks.stores.SQLiteStore` and :class:`~asana_hooks.stores.SQLiteInbox`,
which must both keep what they acknowledged (a secret, a batch) on disk before answering:

* the file and its WAL/SHM companions are created ``0600`` (parent directory ``0700``);
* ``journal_mode=WAL`` and ``synchronous=FULL``, so a committed transaction survives a crash;
* every call runs in a worker thread, one at a time, on one connection opened on first use;
* sqlite and OS failures become :class:`StoreError` naming only the error type.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from asana_hooks.errors import StoreError

__all__ = ["SQLiteFile", "transaction"]

_T = TypeVar("_T")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, or tighten it if it exists."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SQLiteFile:
    """A SQLite database file with a schema, opened on first use.

    Args:
        path: The database file.
        schema: SQL run (idempotently) when the connection opens.
        what: How errors name the owner, e.g. ``"SQLite store"``.
    """

    def __init__(self, path: str | os.PathLike[str], *, schema: str, what: str) -> None:
        self.path = Path(path)
        self._schema = schema
        self._what = what
        self._conn: sqlite3.Connection | None = None
        self._lock = anyio.Lock()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_file(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(self._schema)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
        except BaseException:
            conn.close()
            raise
        return conn

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on the connection in a worker thread, one call at a time."""
        async with self._lock:
            if self._closed:
                raise StoreError(f"the {self._what} is closed")

            def call() -> _T:
                if self._conn is None:
                    self._conn = self._connect()
                return work(self._conn)

            try:
                return await anyio.to_thread.run_sync(call)
            except (sqlite3.Error, OSError, ValueError) as exc:
                raise StoreError(f"the {self._what} failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Close the connection; later calls raise StoreError."""
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    await anyio.to_thread.run_sync(conn.close)
                except sqlite3.Error as exc:
                    raise StoreError(f"the {self._what} failed: {type(exc).__name__}") from exc
