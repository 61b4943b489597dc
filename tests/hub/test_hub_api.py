"""The Hub's API surface: argument checks, handler forms, explicit filters, unsubscribe edge cases."""

from __future__ import annotations

import pytest

from asana_hooks import (
    DERIVE,
    AsanaClient,
    Event,
    Handler,
    HealthStatus,
    Hub,
    InvalidRequestError,
    MemoryStore,
    Receiver,
    ReceiverConfig,
)
from asana_hooks.emulator import Emulator

pytestmark = pytest.mark.anyio


def test_bad_combinations_of_arguments_are_refused_at_once() -> None:
    """A missing store, or a client given with its settings, or a receiver with its config, is refused."""
    store = MemoryStore()
    with pytest.raises(InvalidRequestError, match="store is required"):
        Hub(store=None, token="t")  # type: ignore[arg-type]
    client = AsanaClient("t")
    with pytest.raises(InvalidRequestError, match="either client or token"):
        Hub(store=store, client=client, token="t")
    with pytest.raises(InvalidRequestError, match="either receiver or receiver_config"):
        Hub(store=store, token="t", receiver=Receiver(store), receiver_config=ReceiverConfig())
    assert repr(DERIVE) == "DERIVE"


async def test_a_single_handler_or_a_list_of_them_catches_every_event(emulator: Emulator, hub: Hub) -> None:
    """Plain handlers become catch-all routes, so the webhook is created without filters."""
    seen: list[str] = []

    async def one(event: Event) -> None:
        seen.append("one")

    async def two(event: Event) -> None:
        seen.append("two")

    single = await hub.subscribe(emulator.world.project_gid, one)
    several = await hub.subscribe(emulator.world.other_project_gid, [one, two])
    assert emulator.webhooks[single.webhook_gid].filters == []
    assert single.resource_gid == emulator.world.project_gid
    emulator.emit(
        {"action": "changed", "resource": {"gid": "1", "resource_type": "task"}},
        webhook_gid=several.webhook_gid,
    )
    await emulator.wait_idle()
    assert seen == ["one", "two"]
    assert "subscriptions=2" in repr(hub)


async def test_explicit_filters_are_sent_as_given(emulator: Emulator, hub: Hub) -> None:
    """filters= overrides derivation; mappings are accepted and null keys dropped."""
    subscription = await hub.subscribe(
        emulator.world.project_gid,
        _ignoring(),
        filters=[{"resource_type": "task", "action": "added", "fields": None}],
    )
    assert emulator.webhooks[subscription.webhook_gid].filters == [
        {"resource_type": "task", "resource_subtype": None, "action": "added", "fields": None}
    ]


def _ignoring() -> list[Handler]:
    async def ignore(event: Event) -> None:
        return None

    return [ignore]


async def test_an_empty_resource_is_refused_before_anything_is_sent(emulator: Emulator, hub: Hub) -> None:
    """subscribe("") raises InvalidRequestError and makes no request."""
    with pytest.raises(InvalidRequestError, match="non-empty gid"):
        await hub.subscribe("", [])
    assert emulator.handshakes == []


async def test_unsubscribing_a_webhook_already_gone_still_forgets_it(emulator: Emulator, hub: Hub) -> None:
    """If Asana already deleted the webhook, unsubscribe succeeds and the secret is dropped."""
    subscription = await hub.subscribe(emulator.world.project_gid, [])
    await hub.client.delete_webhook(subscription.webhook_gid)
    await subscription.unsubscribe()
    assert await hub.store.list_records() == []
    assert hub.subscriptions == []


async def test_repair_needs_handlers_bound_in_this_process(emulator: Emulator, client: AsanaClient) -> None:
    """A hub that only holds the stored record reports DELETED even with repair=True."""
    async with MemoryStore() as store, Hub(store=store, client=client) as first:
        subscription = await first.subscribe(emulator.world.project_gid, [])
        await client.delete_webhook(subscription.webhook_gid)
        other = Hub(store=store, client=client, receiver=first.receiver)
        [report] = await other.health(repair=True)
        assert report.status is HealthStatus.DELETED
        assert report.last_success_at is None
        assert report.failure_deletion_timestamp is None


async def test_a_hub_started_twice_starts_its_receiver_once(client: AsanaClient) -> None:
    """start() is idempotent, and aclose() stops what the hub started."""
    async with MemoryStore() as store:
        hub = Hub(store=store, client=client, receiver_config=ReceiverConfig())
        await hub.start()
        url = hub.receiver.base_url
        await hub.start()
        assert hub.receiver.base_url == url
        await hub.aclose()
        assert "receiver_started=False" in repr(hub)
