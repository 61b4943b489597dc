"""Redis for the scale-out tests: the server ``.ci/run`` starts, or one of the test's own.

Tests that need Redis skip with a reason when ``ASANA_HOOKS_REDIS_URL`` is unset. Each test gets
its own key namespace and deletes only that namespace afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.redis.servers import (
    RedisServer,
    delete_namespace,
    redis_server_binary,
    redis_url_or_skip,
    unique_namespace,
)


@pytest.fixture
def redis_url() -> str:
    """The shared test Redis (``ASANA_HOOKS_REDIS_URL``); skips when none is configured."""
    return redis_url_or_skip()


@pytest.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    """A key namespace of this test's own, deleted afterwards."""
    name = unique_namespace()
    yield name
    await delete_namespace(redis_url, name)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, append-only with fsync on every write, in ``tmp_path``."""
    server = RedisServer(redis_server_binary(), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
