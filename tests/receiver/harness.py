"""A started Receiver over real loopback HTTP, with an injected clock and a recording handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import anyio
from multidict import CIMultiDict

from asana_hooks.config import ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.handshake import PendingCreate, SecretStore, SubscriptionRecord
from asana_hooks.receiver import Receiver
from asana_hooks.stores import MemoryStore
from tests.core.case_values import PROJECT_GID, WEBHOOK_GID, S


class Clock:
    """Wall-clock stand-in the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    """What came back: status, headers (all of them) and text."""

    status: int
    headers: CIMultiDict[str]
    text: str


@dataclass
class Harness:
    receiver: Receiver
    store: SecretStore
    clock: Clock
    session: aiohttp.ClientSession
    calls: list[tuple[SubscriptionRecord, Delivery]] = field(default_factory=list)

    async def record_call(self, record: SubscriptionRecord, delivery: Delivery) -> None:
        self.calls.append((record, delivery))

    async def arm(self, token: str) -> None:
        """Register a create in flight for ``token``."""
        await self.store.add_pending(
            PendingCreate(
                token=token,
                resource_gid=PROJECT_GID,
                target=self.receiver.target_for(token),
                expires_at=self.clock() + self.receiver.config.handshake_ttl,
            )
        )

    async def establish(self, token: str, secret: str = S, webhook_gid: str = WEBHOOK_GID) -> None:
        """Bring ``token`` to an established webhook holding ``secret`` (handshake over HTTP)."""
        await self.arm(token)
        reply = await self.post(token, headers=[("X-Hook-Secret", secret)])
        assert reply.status == 200
        await self.store.attach_webhook(token, webhook_gid)
        await self.store.clear_pending(token)

    async def post(
        self,
        token: str,
        body: bytes | Callable[[], AsyncIterator[bytes]] = b"",
        headers: Iterable[tuple[str, str]] = (),
        method: str = "POST",
    ) -> Reply:
        data: object = body() if callable(body) else body
        async with self.session.request(
            method, self.receiver.target_for(token), data=data, headers=CIMultiDict(headers)
        ) as response:
            return Reply(response.status, CIMultiDict(response.headers), await response.text())

    async def deliver(self, token: str, body: bytes, signature: str) -> Reply:
        return await self.post(token, body, [("X-Hook-Signature", signature)])


Handler = Callable[[SubscriptionRecord, Delivery], Awaitable[None]]


@asynccontextmanager
async def running(
    store: SecretStore | None = None,
    *,
    config: ReceiverConfig | None = None,
    handler: Handler | None = None,
    record_calls: bool = True,
    clock: Clock | None = None,
) -> AsyncIterator[Harness]:
    """A started receiver on 127.0.0.1:0 and a client session pointed at it."""
    chosen_store = store if store is not None else MemoryStore()
    chosen_clock = clock or Clock()
    receiver = Receiver(chosen_store, config=config or ReceiverConfig(), clock=chosen_clock)
    with anyio.fail_after(20):
        async with receiver, aiohttp.ClientSession() as session:
            harness = Harness(receiver, chosen_store, chosen_clock, session)
            if handler is not None:
                receiver.on_delivery = handler
            elif record_calls:
                receiver.on_delivery = harness.record_call
            yield harness
