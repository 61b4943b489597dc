"""Load held: 10,000 signed deliveries over 64 concurrent connections, nothing lost, nothing failed."""

from __future__ import annotations

import json
import time
from collections import Counter

import aiohttp
import anyio
import pytest

from asana_hooks import MemoryStore, Receiver
from asana_hooks.deliveries import Delivery
from asana_hooks.handshake import CaptureOutcome, PendingCreate, SubscriptionRecord
from asana_hooks.signing import sign
from tests.core.case_values import S

pytestmark = pytest.mark.anyio

DELIVERIES = 10_000
CONNECTIONS = 64


def _body(number: int) -> bytes:
    event = {
        "user": {"gid": "1500000000000005", "resource_type": "user"},
        "created_at": "2024-03-05T10:15:00.000Z",
        "action": "changed",
        "resource": {"gid": f"44{number:014d}", "resource_type": "task", "resource_subtype": "default_task"},
        "parent": None,
        "change": {"field": "name", "action": "changed"},
    }
    return json.dumps({"events": [event]}, separators=(",", ":")).encode()


async def test_ten_thousand_deliveries_over_64_connections_are_all_verified_and_handled() -> None:
    """10,000 signed deliveries from 64 concurrent connections: all 200, sent == handled, none twice."""
    handled: Counter[str] = Counter()

    async def count(record: SubscriptionRecord, delivery: Delivery) -> None:
        for event in delivery.events:
            handled[event.resource.gid] += 1

    bodies = [_body(number) for number in range(DELIVERIES)]
    signed = [(body, sign(S, body)) for body in bodies]
    statuses: Counter[int] = Counter()
    errors: list[str] = []

    # Not the receiver test harness: its 20-second guard is too tight for a loaded machine.
    async with MemoryStore() as store, Receiver(store, on_delivery=count) as receiver:
        url = receiver.target_for("t1")
        await store.add_pending(
            PendingCreate(token="t1", resource_gid="1", target=url, expires_at=time.time() + 60)
        )
        assert await store.capture_handshake("t1", S, time.time()) is CaptureOutcome.ACCEPTED
        await store.attach_webhook("t1", "1400000000000004")
        await store.clear_pending("t1")
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker(start: int) -> None:
                for body, signature in signed[start::CONNECTIONS]:
                    try:
                        async with session.post(
                            url, data=body, headers={"X-Hook-Signature": signature}
                        ) as reply:
                            await reply.read()
                            statuses[reply.status] += 1
                    except aiohttp.ClientError as exc:
                        errors.append(type(exc).__name__)

            started = time.perf_counter()
            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    for start in range(CONNECTIONS):
                        group.start_soon(worker, start)
            elapsed = time.perf_counter() - started

    print(
        f"\nload: {DELIVERIES} signed deliveries over {CONNECTIONS} connections in {elapsed:.2f} s "
        f"= {DELIVERIES / elapsed:.0f} deliveries/s; statuses {dict(statuses)}; "
        f"events handled {sum(handled.values())}; transport errors {len(errors)}"
    )
    assert errors == []
    assert statuses == Counter({200: DELIVERIES})
    assert len(handled) == DELIVERIES
    assert set(handled.values()) == {1}
