"""RedisStore specifics: atomic capture across connections, expiry, persistence, redaction."""

from __future__ import annotations

import itertools
import time

import anyio
import pytest
import redis.asyncio as aioredis

from asana_hooks.errors import InvalidRequestError, StoreError
from asana_hooks.handshake import CaptureOutcome, PendingCreate
from asana_hooks.stores import RedisStore, open_store
from tests.core.case_values import PROJECT_GID, WEBHOOK_GID, WEBHOOK_GID_2, S
from tests.redis.servers import RedisServer, free_port

pytestmark = pytest.mark.anyio


def pending(name: str = "t1", expires_at: float = 100.0) -> PendingCreate:
    return PendingCreate(
        token=name,
        resource_gid=PROJECT_GID,
        target=f"https://hooks.example.test/asana/h/{name}",
        filters=({"resource_type": "task"},),
        expires_at=expires_at,
    )


def zero() -> float:
    return 0.0


async def test_twenty_racing_handshakes_on_two_connections_accept_exactly_one(
    redis_url: str, namespace: str
) -> None:
    """Two replicas' stores race 20 handshakes with different secrets for one token: one wins."""
    async with (
        RedisStore(redis_url, namespace=namespace, clock=zero) as replica_a,
        RedisStore(redis_url, namespace=namespace, clock=zero) as replica_b,
    ):
        await replica_a.add_pending(pending())
        outcomes: dict[str, CaptureOutcome] = {}

        async def attempt(store: RedisStore, secret: str) -> None:
            outcomes[secret] = await store.capture_handshake("t1", secret, 10.0)

        async with anyio.create_task_group() as group:
            for i in range(20):
                group.start_soon(attempt, replica_a if i % 2 else replica_b, f"secret-{i:02d}")
        accepted = [secret for secret, outcome in outcomes.items() if outcome is CaptureOutcome.ACCEPTED]
        assert len(accepted) == 1
        assert list(outcomes.values()).count(CaptureOutcome.REFUSED) == 19
        for store in (replica_a, replica_b):
            record = await store.get("t1")
            assert record is not None
            assert record.secret == accepted[0]


async def test_a_pending_entry_expires_in_redis_and_a_record_never_does(
    redis_url: str, namespace: str
) -> None:
    """The pending key carries a TTL up to its expiry; the captured record has none."""
    async with RedisStore(redis_url, namespace=namespace, clock=zero) as store:
        await store.add_pending(pending(expires_at=30.0))
        raw = aioredis.Redis.from_url(redis_url)
        try:
            ttl = await raw.pttl(f"{namespace}:pending:t1")
            assert 29_000 < ttl <= 30_000
            await store.capture_handshake("t1", S, 1.0)
            assert await raw.pttl(f"{namespace}:record:t1") == -1
        finally:
            await raw.aclose()


async def test_redis_drops_an_abandoned_pending_entry_at_its_expiry(redis_url: str, namespace: str) -> None:
    """With the real clock, a pending create never captured vanishes from Redis when it expires."""
    async with RedisStore(redis_url, namespace=namespace) as store:
        await store.add_pending(pending(expires_at=time.time() + 0.05))
        raw = aioredis.Redis.from_url(redis_url)
        try:
            with anyio.fail_after(3):
                # Redis expires keys on its own clock: poll until it has.
                for _ in itertools.count():
                    if not await raw.exists(f"{namespace}:pending:t1"):
                        break
                    await anyio.sleep(0.02)
        finally:
            await raw.aclose()
        await store.add_pending(pending(expires_at=time.time() + 60))


async def test_every_key_lives_under_the_namespace(redis_url: str, namespace: str) -> None:
    """Pending, record, webhook and index keys all start with the namespace."""
    async with RedisStore(redis_url, namespace=namespace, clock=zero) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
        await store.attach_webhook("t1", WEBHOOK_GID)
        raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            keys = sorted([key async for key in raw.scan_iter(match=f"{namespace}:*")])
        finally:
            await raw.aclose()
    assert keys == sorted(
        f"{namespace}:{suffix}"
        for suffix in ("pending:t1", "pending-expiry", "record:t1", "records", f"webhook:{WEBHOOK_GID}")
    )


async def test_reattaching_moves_the_webhook_index(redis_url: str, namespace: str) -> None:
    """After attaching a second gid, the first no longer finds the record."""
    async with RedisStore(redis_url, namespace=namespace, clock=zero) as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
        await store.attach_webhook("t1", WEBHOOK_GID)
        await store.attach_webhook("t1", WEBHOOK_GID_2)
        assert await store.find_by_webhook(WEBHOOK_GID) is None
        found = await store.find_by_webhook(WEBHOOK_GID_2)
        assert found is not None
        assert found.token == "t1"


async def test_a_captured_secret_survives_a_redis_kill_with_appendonly(own_redis: RedisServer) -> None:
    """ACCEPTED means fsync'd: after SIGKILL and restart of redis-server the secret is there."""
    async with RedisStore(own_redis.url, clock=zero) as store:
        await store.add_pending(pending())
        assert await store.capture_handshake("t1", S, 10.0) is CaptureOutcome.ACCEPTED
        await store.attach_webhook("t1", WEBHOOK_GID)
    own_redis.kill()
    own_redis.start()
    async with RedisStore(own_redis.url, clock=zero) as store:
        record = await store.find_by_webhook(WEBHOOK_GID)
        assert record is not None
        assert record.secret == S
        assert record.token == "t1"


async def test_an_unreachable_redis_is_a_store_error_without_credentials() -> None:
    """A refused connection raises StoreError naming neither the password nor the user."""
    store = RedisStore(f"redis://admin:hunter2@127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreError) as caught:
        await store.__aenter__()
    assert "hunter2" not in str(caught.value)
    assert "admin" not in str(caught.value)
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.get("t1")


def test_the_repr_hides_the_credentials() -> None:
    """repr shows host, port, db and namespace only."""
    store = RedisStore("redis://admin:hunter2@cache.internal:6380/3", namespace="prod")
    assert repr(store) == "RedisStore(url='redis://cache.internal:6380/3', namespace='prod')"


def test_open_store_gives_a_redis_store_with_its_namespace() -> None:
    """redis://...?namespace=NAME opens a RedisStore on that namespace; the default is asana_hooks."""
    store = open_store("redis://:hunter2@127.0.0.1:6399/0?namespace=replicas")
    assert isinstance(store, RedisStore)
    assert store.namespace == "replicas"
    assert "hunter2" not in repr(store)
    plain = open_store("redis://127.0.0.1:6399/0")
    assert isinstance(plain, RedisStore)
    assert plain.namespace == "asana_hooks"


@pytest.mark.parametrize(
    "url", ["redis://h:6379/0?namespace=a&namespace=b", "redis://h:6379/0?namespace=", "redis://h:99999/0"]
)
def test_bad_redis_urls_are_refused(url: str) -> None:
    """Two namespaces, an empty one, or an impossible port raise InvalidRequestError."""
    with pytest.raises(InvalidRequestError):
        open_store(url)
