"""Hub lifecycle: restarts with a durable store, health checks and repair, cancellation."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from asana_hooks import (
    AckMode,
    AsanaClient,
    Event,
    HealthStatus,
    Hub,
    ReceiverConfig,
    Router,
    SQLiteStore,
    open_inbox,
)
from asana_hooks.emulator import Emulator

pytestmark = pytest.mark.anyio


def _recording_router(seen: list[Event]) -> Router:
    router = Router()

    async def record(event: Event) -> None:
        seen.append(event)

    router.add(record)
    return router


async def _rename_task(client: AsanaClient, emulator: Emulator, name: str) -> str:
    data = await client.request_json(
        "POST", "/tasks", data={"name": "t", "projects": [emulator.world.project_gid]}
    )
    await client.request_json("PUT", f"/tasks/{data['gid']}", data={"name": name})
    return str(data["gid"])


async def _assert_nothing_half_made(emulator: Emulator, hub: Hub) -> None:
    records = {r.webhook_gid: r for r in await hub.store.list_records()}
    assert set(emulator.webhooks) == {gid for gid in records if gid is not None}
    for gid, hook in emulator.webhooks.items():
        assert records[gid].secret == hook.secret


async def test_a_restarted_hub_with_sqlite_keeps_verifying(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """W22: after a restart on the same store file and port, the webhook is reused and events verify."""
    path = tmp_path / "secrets.sqlite3"
    async with SQLiteStore(path) as store, Hub(store=store, client=client) as first:
        subscription = await first.subscribe(emulator.world.project_gid, Router())
        port = int(first.receiver.base_url.rsplit(":", 1)[1])

    seen: list[Event] = []
    config = ReceiverConfig(port=port)
    async with SQLiteStore(path) as store, Hub(store=store, client=client, receiver_config=config) as second:
        again = await second.subscribe(emulator.world.project_gid, _recording_router(seen))
        assert again.reused
        assert again.webhook_gid == subscription.webhook_gid
        task = await _rename_task(client, emulator, "after restart")
        await emulator.wait_idle()
        assert task in {e.resource.gid for e in seen}
        await _assert_nothing_half_made(emulator, second)


async def test_health_reports_ok_then_deleted_and_repair_resubscribes(emulator: Emulator, hub: Hub) -> None:
    """W18: a webhook deleted at Asana is reported DELETED, and repair makes a new one that delivers."""
    seen: list[Event] = []
    subscription = await hub.subscribe(emulator.world.project_gid, _recording_router(seen))
    old_gid = subscription.webhook_gid
    [report] = await hub.health()
    assert report.status is HealthStatus.OK
    assert report.last_success_at is not None

    await hub.client.delete_webhook(old_gid)  # what Asana does after 24 h of failures
    [report] = await hub.health()
    assert report.status is HealthStatus.DELETED
    assert report.webhook is None

    [report] = await hub.health(repair=True)
    assert report.status is HealthStatus.REPAIRED
    assert report.replacement is not None
    new_gid = report.replacement.webhook_gid
    assert new_gid != old_gid
    assert new_gid in emulator.webhooks
    task = await _rename_task(hub.client, emulator, "repaired")
    await emulator.wait_idle()
    assert task in {e.resource.gid for e in seen}
    await _assert_nothing_half_made(emulator, hub)


async def test_health_reports_a_failing_webhook(emulator: Emulator, hub: Hub) -> None:
    """A handler error answers 500, Asana retries later, and health reports the webhook FAILING."""
    router = Router()

    async def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    router.add(broken)
    await hub.subscribe(emulator.world.project_gid, router)
    await _rename_task(hub.client, emulator, "boom")
    await emulator.wait_idle()
    [report] = await hub.health()
    assert report.status is HealthStatus.FAILING
    assert report.webhook is not None
    assert report.webhook.delivery_retry_count == 1
    assert report.failure_deletion_timestamp is not None


async def test_a_cancelled_subscribe_leaves_nothing_half_made(emulator: Emulator, hub: Hub) -> None:
    """A deadline passing while the create is in flight still finishes it: webhook and secret stored."""
    emulator.faults.delay_handshake(0.1)
    subscriptions = []
    with anyio.move_on_after(0.02):
        subscriptions.append(await hub.subscribe(emulator.world.project_gid, Router()))
    # The shielded create completed, so the subscription is returned rather than lost.
    assert [s.webhook_gid for s in subscriptions] == list(emulator.webhooks)
    assert hub.subscriptions == subscriptions
    await _assert_nothing_half_made(emulator, hub)


async def test_a_delivery_nobody_claims_is_refused_so_asana_retries(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """After a restart, before subscribe binds handlers, events get 503 instead of being dropped."""
    path = tmp_path / "secrets.sqlite3"
    async with SQLiteStore(path) as store, Hub(store=store, client=client) as first:
        await first.subscribe(emulator.world.project_gid, Router())
        port = int(first.receiver.base_url.rsplit(":", 1)[1])
    async with (
        SQLiteStore(path) as store,
        Hub(store=store, client=client, receiver_config=ReceiverConfig(port=port)) as second,
    ):
        await second.start()
        await _rename_task(client, emulator, "unclaimed")
        await emulator.wait_idle()
        last = [d for d in emulator.deliveries if d.kind == "delivery"][-1]
        assert last.events
        assert last.status == 503


async def test_a_durable_hub_persists_batches_and_handles_them(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """With AckMode.DURABLE and an inbox, events are acknowledged after persisting, then handled."""
    seen: list[Event] = []
    handled = anyio.Event()
    router = Router()

    async def record(event: Event) -> None:
        seen.append(event)
        handled.set()

    router.add(record)
    config = ReceiverConfig(ack_mode=AckMode.DURABLE)
    async with (
        SQLiteStore(tmp_path / "secrets.sqlite3") as store,
        open_inbox(f"sqlite:///{tmp_path / 'inbox.sqlite3'}") as inbox,
    ):
        async with Hub(store=store, client=client, receiver_config=config, inbox=inbox) as hub:
            await hub.subscribe(emulator.world.project_gid, router)
            task = await _rename_task(client, emulator, "durable")
            await emulator.wait_idle()
            with anyio.fail_after(10):
                while task not in {e.resource.gid for e in seen}:
                    await handled.wait()
                    handled = anyio.Event()
        # Closing the hub let the workers finish: nothing is left waiting in the inbox.
        assert await inbox.backlog() == 0


async def test_after_repair_the_callers_subscription_stands_for_the_new_webhook(
    emulator: Emulator, hub: Hub
) -> None:
    """A repaired subscription handle points at the replacement, and unsubscribe deletes that one."""
    subscription = await hub.subscribe(emulator.world.project_gid, Router())
    old_gid = subscription.webhook_gid
    await hub.client.delete_webhook(old_gid)
    [report] = await hub.health(repair=True)
    assert report.replacement is subscription
    assert subscription.webhook_gid != old_gid
    assert hub.subscriptions == [subscription]
    await subscription.unsubscribe()
    assert emulator.webhooks == {}
    assert await hub.store.list_records() == []
