"""SQLiteStore specifics: durability across restarts, private file modes, wrapped failures."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from asana_hooks.errors import StoreError
from asana_hooks.handshake import CaptureOutcome, PendingCreate
from asana_hooks.stores import SQLiteStore
from tests.core.case_values import PROJECT_GID, S2, WEBHOOK_GID, S

pytestmark = pytest.mark.anyio


def pending(path_name: str = "t1") -> PendingCreate:
    return PendingCreate(
        token=path_name,
        resource_gid=PROJECT_GID,
        target=f"https://hooks.example.test/asana/h/{path_name}",
        filters=({"resource_type": "task"},),
        expires_at=100.0,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_records_survive_a_restart(tmp_path: Path) -> None:
    """W22: a new SQLiteStore on the same file sees the captured secret and the webhook gid."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as first:
        await first.add_pending(pending())
        assert await first.capture_handshake("t1", S, 10.0) is CaptureOutcome.ACCEPTED
        await first.attach_webhook("t1", WEBHOOK_GID)
        await first.touch("t1", 12.0)
    async with SQLiteStore(path) as second:
        record = await second.get("t1")
        assert record is not None
        assert record.secret == S
        assert record.webhook_gid == WEBHOOK_GID
        assert record.last_seen_at == 12.0
        assert record.filters == ({"resource_type": "task"},)
        assert await second.find_by_webhook(WEBHOOK_GID) == record


async def test_a_pending_create_survives_a_restart_but_not_its_expiry(tmp_path: Path) -> None:
    """Pending creates are on disk too, and still expire on the same clock."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as first:
        await first.add_pending(pending())
    async with SQLiteStore(path) as second:
        assert await second.capture_handshake("t1", S2, 150.0) is CaptureOutcome.REFUSED
        assert await second.get("t1") is None


async def test_an_accepted_secret_is_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    """ACCEPTED means committed: a plain sqlite3 connection reads the secret right away."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
        with sqlite3.connect(path) as other:
            row = other.execute("SELECT secret FROM subscriptions WHERE token = 't1'").fetchone()
        assert row == (S,)


async def test_the_database_files_are_private(tmp_path: Path) -> None:
    """The database, WAL and SHM files are created with mode 0600; a missing parent is created."""
    path = tmp_path / "deeper" / "dir" / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
        assert mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert side.exists()
            assert mode(side) == 0o600
        assert mode(path.parent) == 0o700


async def test_an_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    """A database file left world-readable is chmod-ed to 0600 on open."""
    path = tmp_path / "secrets.db"
    path.touch()
    os.chmod(path, 0o644)
    async with SQLiteStore(path) as store:
        assert await store.list_records() == []
    assert mode(path) == 0o600


async def test_the_journal_is_wal_with_full_sync(tmp_path: Path) -> None:
    """journal_mode is WAL (persisted in the file)."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path):
        pass
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_corrupt_file_raises_store_error(tmp_path: Path) -> None:
    """A file that is not a database fails on open with StoreError wrapping sqlite3's error."""
    path = tmp_path / "secrets.db"
    path.write_bytes(b"this is not a sqlite database, just junk bytes" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreError) as caught:
        await store.__aenter__()
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    await store.aclose()


async def test_a_corrupt_row_raises_store_error(tmp_path: Path) -> None:
    """A record whose filters are not JSON surfaces as StoreError, not ValueError."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
    with sqlite3.connect(path) as other:
        other.execute("UPDATE subscriptions SET filters = '{not json' WHERE token = 't1'")
    async with SQLiteStore(path) as store:
        with pytest.raises(StoreError):
            await store.get("t1")


async def test_filters_that_are_not_a_list_of_objects_raise_store_error(tmp_path: Path) -> None:
    """Valid JSON of the wrong shape in the filters column is also a StoreError."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
    with sqlite3.connect(path) as other:
        other.execute("UPDATE subscriptions SET filters = '[1, 2]' WHERE token = 't1'")
    async with SQLiteStore(path) as store:
        with pytest.raises(StoreError):
            await store.list_records()


async def test_an_unusable_path_raises_store_error(tmp_path: Path) -> None:
    """A path whose parent is a file fails with StoreError, not OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        async with SQLiteStore(blocker / "secrets.db"):
            pass


async def test_the_repr_names_the_path_only(tmp_path: Path) -> None:
    """repr shows the file path and nothing stored."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
        assert S not in repr(store)
        assert str(path) in repr(store)
        assert store.path == path


async def test_a_failed_transaction_is_rolled_back(tmp_path: Path) -> None:
    """When a capture's write fails midway, nothing of it stays and the store keeps working."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.add_pending(pending())
        with sqlite3.connect(path) as other:
            other.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON subscriptions "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        with pytest.raises(StoreError):
            await store.capture_handshake("t1", S, 10.0)
        with sqlite3.connect(path) as other:
            other.execute("DROP TRIGGER refuse")
        assert await store.capture_handshake("t1", S, 11.0) is CaptureOutcome.ACCEPTED
