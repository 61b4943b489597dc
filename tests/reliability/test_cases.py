"""W01, the handshake deadlock: its two negative controls, and the library's way out."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import anyio
import anyio.from_thread
import pytest
from aiohttp import web

from asana_hooks import AsanaClient, BadRequest, ClientConfig, Hub, MemoryStore, Receiver, Router
from asana_hooks.emulator import Emulator
from asana_hooks.handshake import PendingCreate, new_path_token
from tests.reliability.invariants import assert_nothing_half_made

pytestmark = pytest.mark.anyio


async def test_w01_the_library_answers_the_handshake_while_the_create_is_pending() -> None:
    """W01 positive: one loop sends the create and answers the handshake: 200 + echo, then 201, S stored."""
    async with (
        Emulator(batch_window=0.005, handshake_timeout=2.0) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
        MemoryStore() as store,
        Hub(store=store, client=client) as hub,
    ):
        subscription = await hub.subscribe(emulator.world.project_gid, Router())
        [handshake] = emulator.handshakes
        assert handshake.status in (200, 204)
        assert handshake.echoed == (handshake.secret,)
        [record] = await store.list_records()
        assert record.secret == handshake.secret == emulator.webhooks[subscription.webhook_gid].secret
        assert record.webhook_gid == subscription.webhook_gid
        await assert_nothing_half_made(emulator, store)


@pytest.fixture
async def awaiting_target() -> AsyncIterator[tuple[str, anyio.Event]]:
    """A target whose handshake handler awaits "create done" before echoing: the W01 mistake."""
    create_done = anyio.Event()

    async def handshake(request: web.Request) -> web.Response:
        await create_done.wait()
        return web.Response(status=200, headers={"X-Hook-Secret": request.headers["X-Hook-Secret"]})

    app = web.Application()
    app.router.add_post("/h/t1", handshake)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/h/t1", create_done
    finally:
        create_done.set()
        await runner.cleanup()


async def test_w01_a_handshake_handler_awaiting_the_create_deadlocks_and_asana_answers_an_error(
    awaiting_target: tuple[str, anyio.Event],
) -> None:
    """W01 control: the handler waits for the create, the create waits for the handler: 400, no webhook."""
    target, create_done = awaiting_target
    async with (
        Emulator(batch_window=0.005, handshake_timeout=0.3) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
    ):
        with pytest.raises(BadRequest, match="did not respond"):
            await client.create_webhook(emulator.world.project_gid, target)
        create_done.set()  # the "late 200" now goes nowhere
        assert emulator.webhooks == {}


def _blocking_create(base_url: str, token: str, resource: str, target: str) -> tuple[int, str]:
    """A synchronous create, as with `requests`/`urllib`: the calling thread waits for the 201."""
    body = json.dumps({"data": {"resource": resource, "target": target}}).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback http:// URL the test built
        base_url + "/webhooks",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_w01_a_blocking_create_on_the_event_loop_thread_deadlocks_and_ours_does_not() -> None:
    """W01 control: a sync create on the loop thread starves our own receiver -> 400; the async one -> 201."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        # Asana lives in another thread; the receiver lives on this test's loop.
        portal.wrap_async_context_manager(Emulator(batch_window=0.005, handshake_timeout=0.3)) as emulator,
    ):
        async with MemoryStore() as store, Receiver(store) as receiver:
            project = emulator.world.project_gid

            async def arm() -> str:
                token = new_path_token()
                target = receiver.target_for(token)
                pending = PendingCreate(
                    token=token, resource_gid=project, target=target, expires_at=time.time() + 60
                )
                await store.add_pending(pending)
                return target

            blocked = await arm()
            # The mistake itself: a blocking call from a coroutine keeps the loop from answering.
            status, text = _blocking_create(emulator.base_url, emulator.token, project, blocked)
            assert status == 400
            assert "Webhook handshake failed" in text
            assert portal.call(lambda: len(emulator.webhooks)) == 0

            target = await arm()
            async with AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client:
                created = await client.create_webhook(project, target)
            record = await store.get(target.rsplit("/", 1)[1])
            assert record is not None
            assert created.secret == record.secret
            assert portal.call(lambda: list(emulator.webhooks)) == [created.webhook.gid]
