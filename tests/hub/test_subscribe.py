"""One-call subscribe against the emulator over loopback: create, handshake, routing, unsubscribe."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from asana_hooks import (
    AsanaClient,
    BadRequest,
    ClientConfig,
    Event,
    HandshakeNotReceived,
    HandshakeSecretMismatch,
    Hub,
    InvalidRequestError,
    InvalidTarget,
    LargerScopeFiltersRequired,
    MemoryStore,
    Receiver,
    ReceiverConfig,
    Router,
    WebhookNotFound,
)
from asana_hooks.emulator import Emulator

pytestmark = pytest.mark.anyio


async def _task(client: AsanaClient, project_gid: str, name: str) -> str:
    data = await client.request_json("POST", "/tasks", data={"name": name, "projects": [project_gid]})
    return str(data["gid"])


async def test_subscribe_creates_a_webhook_and_routes_events_to_matching_handlers(
    emulator: Emulator, hub: Hub
) -> None:
    """Renames reach the name handler, comments the story handler, and nothing else runs."""
    renamed: list[Event] = []
    stories: list[Event] = []
    router = Router()

    @router.on("task", action="changed", field="name")
    async def on_rename(event: Event) -> None:
        renamed.append(event)

    @router.on("story", action="added")
    async def on_story(event: Event) -> None:
        stories.append(event)

    project = emulator.world.project_gid
    subscription = await hub.subscribe(project, router)
    assert subscription.webhook_gid in emulator.webhooks
    assert not subscription.reused
    task = await _task(hub.client, project, "Draft")
    await hub.client.request_json("PUT", f"/tasks/{task}", data={"name": "Final"})
    await hub.client.request_json("PUT", f"/tasks/{task}", data={"completed": True})
    await hub.client.request_json("POST", f"/tasks/{task}/stories", data={"text": "Looks good"})
    await emulator.wait_idle()

    assert [e.resource.gid for e in renamed] == [task]
    assert renamed[0].change is not None
    assert renamed[0].change.field == "name"
    assert [e.resource.resource_type for e in stories] == ["story"]
    events = [d for d in emulator.deliveries if d.kind == "delivery" and d.events]
    assert events
    assert all(d.status == 200 for d in events)


async def test_derived_filters_are_sent_to_asana(emulator: Emulator, hub: Hub) -> None:
    """Asana is asked only for what the router handles: one filter per handled kind of event."""
    router = Router()

    @router.on("task", action="changed", field=["name", "due_on"])
    async def on_change(event: Event) -> None:
        return None

    subscription = await hub.subscribe(emulator.world.project_gid, router)
    filters = emulator.webhooks[subscription.webhook_gid].filters
    assert [(f["resource_type"], f["action"], f["fields"]) for f in filters] == [
        ("task", "changed", ["due_on", "name"])
    ]


async def test_the_first_heartbeat_verifies_before_the_create_returns(emulator: Emulator, hub: Hub) -> None:
    """The secret is stored at the handshake, so the heartbeat sent inside the create gets 200."""
    subscription = await hub.subscribe(emulator.world.project_gid, Router())
    first = [d for d in emulator.deliveries if d.webhook_gid == subscription.webhook_gid]
    assert first[0].kind == "delivery"
    assert first[0].events == []
    assert first[0].status == 200
    record = await hub.store.find_by_webhook(subscription.webhook_gid)
    assert record is not None
    assert record.last_seen_at is not None


async def test_unsubscribe_deletes_the_webhook_and_forgets_its_secret(emulator: Emulator, hub: Hub) -> None:
    """After unsubscribe the webhook is gone at Asana and its secret is gone from the store."""
    subscription = await hub.subscribe(emulator.world.project_gid, Router())
    await subscription.unsubscribe()
    assert subscription.webhook_gid not in emulator.webhooks
    assert await hub.store.find_by_webhook(subscription.webhook_gid) is None
    assert hub.subscriptions == []
    with pytest.raises(WebhookNotFound):
        await hub.client.get_webhook(subscription.webhook_gid)


async def test_two_hundred_concurrent_subscribes_each_get_their_own_secret(
    emulator: Emulator, hub: Hub
) -> None:
    """200 creates in flight through one receiver: 200 webhooks, 200 distinct stored secrets."""
    project = emulator.world.project_gid
    subscriptions: list[Any] = []

    async def one() -> None:
        subscriptions.append(await hub.subscribe(project, Router()))

    async with anyio.create_task_group() as group:
        for _ in range(200):
            group.start_soon(one)
    records = await hub.store.list_records()
    assert len({r.webhook_gid for r in records}) == 200
    assert len({r.secret for r in records}) == 200
    for record in records:
        assert record.webhook_gid is not None
        assert emulator.webhooks[record.webhook_gid].secret == record.secret


async def test_subscribing_again_reuses_the_stored_webhook(emulator: Emulator, hub: Hub) -> None:
    """A second hub on the same store and public URL reuses the webhook instead of creating one."""
    first = await hub.subscribe(emulator.world.project_gid, Router())
    other = Hub(store=hub.store, client=hub.client, receiver=hub.receiver)
    again = await other.subscribe(emulator.world.project_gid, Router())
    assert again.reused
    assert again.webhook_gid == first.webhook_gid
    assert len(emulator.webhooks) == 1


async def test_reuse_updates_filters_that_differ(emulator: Emulator, hub: Hub) -> None:
    """Reusing a webhook with other wanted filters replaces its filters at Asana."""
    await hub.subscribe(emulator.world.project_gid, Router())
    other = Hub(store=hub.store, client=hub.client, receiver=hub.receiver)
    router = Router()

    @router.on("task", action="added")
    async def on_added(event: Event) -> None:
        return None

    again = await other.subscribe(emulator.world.project_gid, router)
    assert again.reused
    assert emulator.webhooks[again.webhook_gid].filters == [
        {"resource_type": "task", "resource_subtype": None, "action": "added", "fields": None}
    ]


async def test_a_stored_webhook_gone_at_asana_is_created_anew(emulator: Emulator, hub: Hub) -> None:
    """If Asana deleted the stored webhook, subscribe makes a new one with a new secret."""
    first = await hub.subscribe(emulator.world.project_gid, Router())
    await hub.client.delete_webhook(first.webhook_gid)
    other = Hub(store=hub.store, client=hub.client, receiver=hub.receiver)
    again = await other.subscribe(emulator.world.project_gid, Router())
    assert not again.reused
    assert again.webhook_gid != first.webhook_gid
    assert await hub.store.find_by_webhook(first.webhook_gid) is None


async def test_a_secret_mismatch_deletes_the_webhook_and_raises(emulator: Emulator, hub: Hub) -> None:
    """W03/W22: when the 201's secret differs from the handshake's, the webhook is deleted."""
    emulator.faults.wrong_handshake()
    with pytest.raises(HandshakeSecretMismatch) as caught:
        await hub.subscribe(emulator.world.project_gid, Router())
    assert caught.value.webhook_gid not in emulator.webhooks
    assert emulator.webhooks == {}
    assert await hub.store.list_records() == []


async def test_a_handshake_answered_elsewhere_raises_and_deletes_the_webhook(
    emulator: Emulator, client: AsanaClient
) -> None:
    """If something else echoes the handshake, the hub raises HandshakeNotReceived naming the target."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(headers={"X-Hook-Secret": request.headers.get("X-Hook-Secret", "")})

    app = web.Application()
    app.router.add_post("/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = ReceiverConfig(public_url=f"http://127.0.0.1:{port}")
        async with MemoryStore() as store, Hub(store=store, client=client, receiver_config=config) as hub:
            with pytest.raises(HandshakeNotReceived) as caught:
                await hub.subscribe(emulator.world.project_gid, Router())
            assert caught.value.target.startswith(f"http://127.0.0.1:{port}/asana/h/")
            assert emulator.webhooks == {}
            assert await store.list_records() == []
    finally:
        await runner.cleanup()


async def test_a_handshake_refused_by_a_proxy_raises_and_disarms_the_token(
    emulator: Emulator, client: AsanaClient
) -> None:
    """W11: a proxy answers 401; create fails with Asana's typed error; a late handshake gets 403."""
    seen: list[str] = []

    async def basic_auth_wall(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    app = web.Application()
    app.router.add_post("/{tail:.*}", basic_auth_wall)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proxy = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        config = ReceiverConfig(public_url=proxy)
        async with MemoryStore() as store, Hub(store=store, client=client, receiver_config=config) as hub:
            with pytest.raises(BadRequest, match="handshake") as caught:
                await hub.subscribe(emulator.world.project_gid, Router())
            assert caught.value.status == 400
            assert emulator.webhooks == {}
            assert await store.list_records() == []
            # The real receiver no longer accepts a handshake for that token.
            late = hub.receiver.base_url + seen[0]
            async with (
                aiohttp.ClientSession() as session,
                session.post(late, headers={"X-Hook-Secret": "late"}) as reply,
            ):
                assert reply.status == 403
                assert "X-Hook-Secret" not in reply.headers
            assert await store.list_records() == []
    finally:
        await runner.cleanup()


async def test_a_localhost_target_in_strict_mode_is_an_invalid_target() -> None:
    """W12: a strict emulator refuses the loopback target with 403 -> InvalidTarget, nothing pending."""
    async with (
        Emulator(strict=True) as strict,
        AsanaClient(strict.token, config=ClientConfig(base_url=strict.base_url)) as api,
        MemoryStore() as store,
        Hub(store=store, client=api) as hub,
    ):
        with pytest.raises(InvalidTarget) as caught:
            await hub.subscribe(strict.world.project_gid, Router())
        assert "127.0.0.1" in " ".join(getattr(caught.value, "__notes__", []))
        assert strict.handshakes == []
        assert await store.list_records() == []


async def test_a_workspace_without_filters_needs_larger_scope_filters(emulator: Emulator, hub: Hub) -> None:
    """W14: a workspace subscription with task filters is refused with the machine-readable code."""
    router = Router()

    @router.on("project_status", action="changed")
    async def on_status(event: Event) -> None:
        return None

    with pytest.raises(LargerScopeFiltersRequired) as caught:
        await hub.subscribe(emulator.world.workspace_gid, router)
    assert caught.value.error_codes == ["invalid_filters_for_larger_scoped_webhooks"]
    assert emulator.handshakes == []
    with pytest.raises(LargerScopeFiltersRequired):
        await hub.subscribe(emulator.world.workspace_gid, Router(), filters=None)


async def test_a_workspace_subscription_with_allowed_filters_works(emulator: Emulator, hub: Hub) -> None:
    """Project filters on a workspace are allowed, and project events are routed."""
    added: list[str] = []
    router = Router()

    @router.on("project", action="added")
    async def on_project(event: Event) -> None:
        added.append(event.resource.gid)

    await hub.subscribe(emulator.world.workspace_gid, router)
    data = await hub.client.request_json(
        "POST", "/projects", data={"name": "New", "workspace": emulator.world.workspace_gid}
    )
    await emulator.wait_idle()
    assert added == [data["gid"]]


async def test_events_that_do_not_fit_the_model_reach_on_unparsed(emulator: Emulator, hub: Hub) -> None:
    """An odd event Asana might send is handed over raw, not acknowledged and dropped."""
    odd: list[object] = []
    typed: list[Event] = []
    router = Router()

    @router.on_unparsed
    async def keep(item: object) -> None:
        odd.append(item)

    @router.on("task")
    async def on_task(event: Event) -> None:
        typed.append(event)

    subscription = await hub.subscribe(emulator.world.project_gid, router, filters=None)
    emulator.emit(
        {"action": "changed", "resource": {"resource_type": "task"}}, webhook_gid=subscription.webhook_gid
    )
    await emulator.wait_idle()
    assert odd == [{"action": "changed", "resource": {"resource_type": "task"}}]
    assert typed == []


async def test_subscribe_with_a_workspace_deletes_webhooks_whose_secret_is_lost(
    emulator: Emulator, client: AsanaClient
) -> None:
    """A webhook delivering to this receiver without a stored secret is deleted, then one is made."""
    async with MemoryStore() as store, Hub(store=store, client=client) as first:
        lost = await first.subscribe(emulator.world.project_gid, Router())
        port = int(first.receiver.base_url.rsplit(":", 1)[1])
    # Restarted on the same port with a store that lost the secret (memory, or a deleted file).
    config = ReceiverConfig(port=port)
    async with MemoryStore() as empty, Hub(store=empty, client=client, receiver_config=config) as again:
        fresh = await again.subscribe(
            emulator.world.project_gid, Router(), workspace=emulator.world.workspace_gid
        )
        assert lost.webhook_gid not in emulator.webhooks
        assert list(emulator.webhooks) == [fresh.webhook_gid]
        [record] = await empty.list_records()
        assert record.secret == emulator.webhooks[fresh.webhook_gid].secret


def test_a_hub_refuses_a_receiver_that_uses_another_store() -> None:
    """Handshakes are captured in the receiver's store: the hub must read the same one."""
    receiver = Receiver(MemoryStore())
    with pytest.raises(InvalidRequestError, match="same store"):
        Hub(store=MemoryStore(), token="0/fake-pat-0000", receiver=receiver)
