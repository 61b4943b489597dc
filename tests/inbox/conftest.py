"""Inbox fixtures: each inbox test runs on SQLite and on Redis Streams (skipped without Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asana_hooks.inbox import Inbox
from asana_hooks.stores import RedisInbox, SQLiteInbox
from tests.redis.servers import delete_namespace, redis_url_or_skip, unique_namespace


@pytest.fixture(params=["sqlite", "redis"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    """An open inbox of each kind; the Redis one on a namespace of its own, deleted afterwards."""
    if request.param == "sqlite":
        async with SQLiteInbox(tmp_path / "inbox.db") as sqlite_inbox:
            yield sqlite_inbox
        return
    url = redis_url_or_skip()
    namespace = unique_namespace()
    try:
        async with RedisInbox(url, namespace=namespace) as redis_inbox:
            yield redis_inbox
    finally:
        await delete_namespace(url, namespace)
