"""The receiver in durable mode, over loopback HTTP, on the SQLite and the Redis Streams inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import anyio
import pytest

from asana_hooks.config import AckMode, InboxConfig, ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.errors import InvalidRequestError
from asana_hooks.handshake import SecretStore, SubscriptionRecord
from asana_hooks.inbox import Inbox
from asana_hooks.receiver import Receiver
from asana_hooks.stores import MemoryStore
from tests.core.case_values import B_EV, B_HB, SIG_EV, SIG_HB, WEBHOOK_GID
from tests.inbox.durable import TOKEN, batch, deliver, establish, eventually

pytestmark = pytest.mark.anyio

FAST = InboxConfig(workers=2, max_attempts=3, backoff_base=0.001, backoff_cap=0.002, poll_interval=0.05)
Handler = Callable[[SubscriptionRecord, Delivery], Awaitable[None]]


@dataclass
class Durable:
    receiver: Receiver
    inbox: Inbox
    store: SecretStore
    session: aiohttp.ClientSession
    calls: list[tuple[SubscriptionRecord, Delivery]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.receiver.target_for(TOKEN)

    async def post(self, body: bytes, signature: str | None = None) -> int:
        if signature is None:
            return await deliver(self.session, self.url, body)
        headers = {"X-Hook-Signature": signature}
        async with self.session.post(self.url, data=body, headers=headers) as response:
            return response.status

    async def drained(self) -> bool:
        return await self.inbox.backlog() == 0


@asynccontextmanager
async def durable(
    inbox: Inbox,
    handler: Handler | None = None,
    *,
    settings: InboxConfig = FAST,
    store: SecretStore | None = None,
) -> AsyncIterator[Durable]:
    """A started durable receiver with an established webhook; records calls unless given a handler."""
    chosen_store = store or MemoryStore()
    if store is None:
        await establish(chosen_store)
    config = ReceiverConfig(ack_mode=AckMode.DURABLE, inbox=settings, shutdown_timeout=0.2)
    receiver = Receiver(chosen_store, config=config, inbox=inbox)
    with anyio.fail_after(15):
        async with receiver, aiohttp.ClientSession() as session:
            harness = Durable(receiver, inbox, chosen_store, session)

            async def record(record: SubscriptionRecord, delivery: Delivery) -> None:
                harness.calls.append((record, delivery))

            receiver.on_delivery = handler or record
            yield harness


async def test_a_duplicate_batch_is_acknowledged_twice_and_handled_once(inbox: Inbox) -> None:
    """W19 in durable mode: B_EV twice with its signature: both 200, one entry, one handler call."""
    release = anyio.Event()
    calls: list[tuple[SubscriptionRecord, Delivery]] = []

    async def gated(record: SubscriptionRecord, delivery: Delivery) -> None:
        calls.append((record, delivery))
        await release.wait()

    async with durable(inbox, gated) as hooks:
        assert await hooks.post(B_EV, SIG_EV) == 200
        assert await hooks.post(B_EV, SIG_EV) == 200
        # The first batch cannot have finished, so a stored resend would show as a second entry.
        assert await inbox.backlog() == 1
        release.set()
        await eventually(hooks.drained)
    assert len(calls) == 1
    record, delivery = calls[0]
    assert record.webhook_gid == WEBHOOK_GID
    assert [event.resource.gid for event in delivery.events] == ["4000000000000002"]
    assert delivery.body == B_EV


async def test_the_200_goes_out_before_the_handler_finishes(inbox: Inbox) -> None:
    """The ack waits for persistence only: a handler still blocked does not hold the response."""
    release = anyio.Event()
    started = anyio.Event()

    async def slow(record: SubscriptionRecord, delivery: Delivery) -> None:
        started.set()
        await release.wait()

    async with durable(inbox, slow) as hooks:
        assert await hooks.post(batch("1")) == 200
        await started.wait()
        assert await hooks.inbox.backlog() == 1
        release.set()
        await eventually(hooks.drained)


async def test_a_failing_handler_is_retried_until_it_succeeds(inbox: Inbox) -> None:
    """Two failures, then success: three calls with the same events, nothing dead."""
    seen: list[list[str]] = []

    async def flaky(record: SubscriptionRecord, delivery: Delivery) -> None:
        seen.append([event.resource.gid for event in delivery.events])
        if len(seen) < 3:
            raise RuntimeError("not yet")

    async with durable(inbox, flaky) as hooks:
        assert await hooks.post(batch("7", "8")) == 200
        await eventually(hooks.drained)
        assert await inbox.dead_letters() == []
    assert seen == [["7", "8"]] * 3


async def test_a_batch_failing_every_attempt_becomes_a_dead_letter(inbox: Inbox) -> None:
    """After max_attempts (3) failures the batch is a dead letter with the last error."""
    calls = 0

    async def broken(record: SubscriptionRecord, delivery: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    body = batch("9")
    async with durable(inbox, broken) as hooks:
        assert await hooks.post(body) == 200
        await eventually(hooks.drained)
        [dead] = await inbox.dead_letters()
    assert calls == 3
    assert (dead.token, dead.body, dead.attempts, dead.last_error) == (TOKEN, body, 3, "RuntimeError: boom")


async def test_a_failing_inbox_gets_503_so_asana_resends(inbox: Inbox) -> None:
    """When the batch cannot be persisted it is not acknowledged."""
    async with durable(inbox) as hooks:
        await inbox.aclose()
        assert await hooks.post(batch("1")) == 503
    assert hooks.calls == []


async def test_a_heartbeat_is_acknowledged_without_persisting(inbox: Inbox) -> None:
    """{"events": []} gets 200 and leaves the inbox empty."""
    async with durable(inbox) as hooks:
        assert await hooks.post(B_HB, SIG_HB) == 200
        assert await inbox.backlog() == 0


async def test_a_bad_signature_is_refused_before_the_inbox(inbox: Inbox) -> None:
    """Verification comes first: a wrong signature gets 401 and persists nothing."""
    async with durable(inbox) as hooks:
        assert await hooks.post(B_EV, SIG_HB) == 401
        assert await inbox.backlog() == 0


async def test_an_ingest_only_replica_persists_and_another_handles(inbox: Inbox) -> None:
    """workers=0 acknowledges and stores; a replica with workers on the same inbox handles it."""
    store = MemoryStore()
    await establish(store)
    async with durable(inbox, store=store, settings=InboxConfig(workers=0)) as ingest:
        assert await ingest.post(batch("5")) == 200
        assert await inbox.backlog() == 1
        assert ingest.calls == []
        async with durable(inbox, store=store) as worker:
            await eventually(worker.drained)
    assert [e.resource.gid for _, d in worker.calls for e in d.events] == ["5"]


async def test_shutdown_mid_handler_hands_the_batch_back(inbox: Inbox) -> None:
    """A handler cancelled at shutdown leaves its batch in the inbox for the next start, at once."""
    started = anyio.Event()

    async def stuck(record: SubscriptionRecord, delivery: Delivery) -> None:
        started.set()
        await anyio.sleep_forever()

    store = MemoryStore()
    await establish(store)
    async with durable(inbox, stuck, store=store) as first:
        assert await first.post(batch("6")) == 200
        await started.wait()
    assert await inbox.backlog() == 1
    async with durable(inbox, store=store) as second:
        await eventually(second.drained)
    assert [e.resource.gid for _, d in second.calls for e in d.events] == ["6"]


async def test_a_batch_for_a_forgotten_webhook_becomes_a_dead_letter(inbox: Inbox) -> None:
    """If the record is gone before a worker gets to it, retrying cannot help: dead letter."""
    store = MemoryStore()
    await establish(store)
    async with durable(inbox, store=store, settings=InboxConfig(workers=0)) as ingest:
        assert await ingest.post(batch("4")) == 200
    await store.delete(TOKEN)
    async with durable(inbox, store=store) as worker:
        await eventually(worker.drained)
        [dead] = await inbox.dead_letters()
    assert worker.calls == []
    assert "no subscription record" in dead.last_error


def test_durable_mode_needs_an_inbox() -> None:
    """Receiver(..., ack_mode=DURABLE) without an inbox is refused at construction."""
    with pytest.raises(InvalidRequestError, match="inbox"):
        Receiver(MemoryStore(), config=ReceiverConfig(ack_mode=AckMode.DURABLE))
