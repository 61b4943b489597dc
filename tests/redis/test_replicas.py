"""Two receiver replicas sharing one Redis: A creates, the handshake lands on B, both verify."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from asana_hooks import AsanaClient, ClientConfig, Event, Hub, ReceiverConfig, Router
from asana_hooks.deliveries import Delivery
from asana_hooks.emulator import Emulator
from asana_hooks.handshake import SubscriptionRecord
from asana_hooks.receiver import Receiver
from asana_hooks.signing import sign
from asana_hooks.stores import RedisStore
from tests.inbox.durable import batch

pytestmark = pytest.mark.anyio


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started emulator on loopback, port 0."""
    async with Emulator(batch_window=0.005) as emu:
        yield emu


async def test_replica_b_answers_the_handshake_for_replica_a_and_both_verify(
    emulator: Emulator, redis_url: str, namespace: str
) -> None:
    """A's subscribe completes through B's handshake; Asana's deliveries verify on B, signed ones on A."""
    on_b: list[tuple[SubscriptionRecord, Delivery]] = []
    on_a: list[Event] = []

    async def collect_b(record: SubscriptionRecord, delivery: Delivery) -> None:
        on_b.append((record, delivery))

    async def collect_a(event: Event) -> None:
        on_a.append(event)

    router = Router()
    router.add(collect_a)
    with anyio.fail_after(20):
        async with (
            RedisStore(redis_url, namespace=namespace) as store_a,
            RedisStore(redis_url, namespace=namespace) as store_b,
            Receiver(store_b, on_delivery=collect_b) as replica_b,
            AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
            Hub(
                store=store_a, client=client, receiver_config=ReceiverConfig(public_url=replica_b.base_url)
            ) as hub,
        ):
            subscription = await hub.subscribe(emulator.world.project_gid, router, filters=None)
            # Asana called B, the replica behind the public URL, never A.
            assert subscription.target.startswith(replica_b.target_prefix)
            assert [h.target for h in emulator.handshakes] == [subscription.target]
            assert all(h.status == 200 for h in emulator.handshakes)
            record = await store_b.find_by_webhook(subscription.webhook_gid)
            assert record is not None
            assert record.secret  # captured by B, cross-checked by A against the 201

            task = await client.request_json(
                "POST", "/tasks", data={"name": "Draft", "projects": [emulator.world.project_gid]}
            )
            await client.request_json("PUT", f"/tasks/{task['gid']}", data={"name": "Final"})
            await emulator.wait_idle()
            deliveries = [d for d in emulator.deliveries if d.kind == "delivery" and d.events]
            assert deliveries
            assert all(d.status == 200 for d in deliveries)
            assert {r.webhook_gid for r, _ in on_b} == {subscription.webhook_gid}
            assert task["gid"] in {e.resource.gid for _, d in on_b for e in d.events}

            # A verifies too: a delivery signed with the shared secret, posted to A's own port.
            token = subscription.target.rsplit("/", 1)[1]
            body = batch("4000000000000777")
            async with aiohttp.ClientSession() as session:
                url = f"{hub.receiver.base_url}/asana/h/{token}"
                headers = {"X-Hook-Signature": sign(record.secret, body)}
                async with session.post(url, data=body, headers=headers) as response:
                    assert response.status == 200
                async with session.post(url, data=body, headers={"X-Hook-Signature": "0" * 64}) as response:
                    assert response.status == 401
            assert [e.resource.gid for e in on_a] == ["4000000000000777"]
            await subscription.unsubscribe()
            assert await store_b.find_by_webhook(subscription.webhook_gid) is None
