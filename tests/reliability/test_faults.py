"""Faults through the emulator: each ends in a typed error or a recovered state, never half-made."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from asana_hooks import (
    AckMode,
    AsanaClient,
    BadRequest,
    Event,
    HandshakeSecretMismatch,
    HealthStatus,
    Hub,
    RateLimited,
    Receiver,
    ReceiverConfig,
    Router,
    ServerError,
    SQLiteStore,
    TransportError,
)
from asana_hooks.emulator import Emulator, ManualClock
from asana_hooks.handshake import PendingCreate, new_path_token
from tests.reliability.conftest import SleepRecorder
from tests.reliability.invariants import ArmedMemoryStore, assert_nothing_half_made

pytestmark = pytest.mark.anyio

_serial = count(1)


def _event(name: str = "renamed") -> dict[str, Any]:
    """A task change with a fresh resource gid, so dedupe never mistakes two of them for one."""
    return {
        "user": {"gid": "1500000000000005", "resource_type": "user"},
        "created_at": "2024-03-05T10:15:00.000Z",
        "action": "changed",
        "resource": {
            "gid": f"43{next(_serial):014d}",
            "resource_type": "task",
            "resource_subtype": "default_task",
            "name": name,
        },
        "parent": None,
        "change": {"field": "name", "action": "changed"},
    }


def _recorder(seen: list[Event]) -> Router:
    router = Router()

    async def record(event: Event) -> None:
        seen.append(event)

    router.add(record)
    return router


def _name(event: Event) -> str:
    return str(event.raw["resource"]["name"])


def _port(receiver: Receiver) -> int:
    return int(receiver.base_url.rsplit(":", 1)[1])


# -- handshake faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("immediate", [True, False], ids=["refused-at-once", "after-the-timeout"])
async def test_a_dropped_handshake_raises_bad_request_and_leaves_nothing(
    emulator: Emulator,
    hub: Hub,
    store: ArmedMemoryStore,
    probe: aiohttp.ClientSession,
    immediate: bool,
) -> None:
    """No handshake sent: Asana's 400 surfaces as BadRequest, no webhook, no secret, token disarmed."""
    emulator.faults.drop_handshake(immediate=immediate)
    with pytest.raises(BadRequest, match="handshake failed"):
        await hub.subscribe(emulator.world.project_gid, Router())
    assert emulator.webhooks == {}
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


async def test_a_handshake_delayed_past_the_timeout_fails_cleanly_and_a_retry_succeeds(
    emulator: Emulator, hub: Hub, store: ArmedMemoryStore, probe: aiohttp.ClientSession
) -> None:
    """A handshake later than Asana's budget fails the create; the next subscribe works end to end."""
    emulator.faults.delay_handshake(2.5)  # the budget is 2 s
    with pytest.raises(BadRequest, match="did not respond"):
        await hub.subscribe(emulator.world.project_gid, Router())
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)

    seen: list[Event] = []
    subscription = await hub.subscribe(emulator.world.project_gid, _recorder(seen))
    emulator.emit(_event(), webhook_gid=subscription.webhook_gid)
    await emulator.wait_idle()
    assert len(seen) == 1
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


async def test_a_handshake_secret_differing_from_the_201_deletes_the_webhook_and_raises(
    emulator: Emulator, hub: Hub, store: ArmedMemoryStore, probe: aiohttp.ClientSession
) -> None:
    """Wrong echo between handshake and 201: HandshakeSecretMismatch, webhook deleted, secret dropped."""
    emulator.faults.wrong_handshake()
    with pytest.raises(HandshakeSecretMismatch):
        await hub.subscribe(emulator.world.project_gid, Router())
    assert emulator.webhooks == {}
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


@pytest.fixture
async def broken_target() -> AsyncIterator[tuple[str, list[str]]]:
    """A target that answers handshakes wrongly, by path: wrong echo, 202 bare, 200 bare, 401 proxy."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        seen.append(kind)
        if kind == "wrong-echo":
            return web.Response(status=200, headers={"X-Hook-Secret": "not-what-was-sent"})
        if kind == "accepted-bare":
            return web.Response(status=202)
        if kind == "ok-bare":
            return web.Response(status=200)
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    app = web.Application()
    app.router.add_post("/{kind}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("kind", ["wrong-echo", "accepted-bare", "ok-bare", "proxy-auth"])
async def test_a_target_answering_the_handshake_wrongly_gets_no_webhook(
    emulator: Emulator, client: AsanaClient, broken_target: tuple[str, list[str]], kind: str
) -> None:
    """W02/W11 controls: wrong echo, 202, bare 200 or a proxy's 401 -> typed 400, nothing made."""
    base, seen = broken_target
    with pytest.raises(BadRequest, match="handshake failed") as caught:
        await client.create_webhook(emulator.world.project_gid, f"{base}/{kind}")
    assert caught.value.status == 400
    assert seen == [kind]
    assert emulator.webhooks == {}


# -- REST faults ------------------------------------------------------------------------------------


async def test_a_429_storm_with_retry_after_is_waited_out_then_subscribes(
    emulator: Emulator,
    hub: Hub,
    store: ArmedMemoryStore,
    sleeps: SleepRecorder,
    probe: aiohttp.ClientSession,
) -> None:
    """Three 429s with Retry-After: 3 -> three 3-second waits, then the handshake and 201 succeed."""
    emulator.faults.fail_next("POST", "/webhooks", 429, retry_after=3, times=3)
    seen: list[Event] = []
    subscription = await hub.subscribe(emulator.world.project_gid, _recorder(seen))
    assert sleeps.delays == [3.0, 3.0, 3.0]
    emulator.emit(_event(), webhook_gid=subscription.webhook_gid)
    await emulator.wait_idle()
    assert len(seen) == 1
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


@pytest.mark.parametrize("retry_after", [None, "soon", "NaN", "-5"])
async def test_a_429_storm_without_usable_retry_after_backs_off_boundedly(
    emulator: Emulator,
    hub: Hub,
    store: ArmedMemoryStore,
    sleeps: SleepRecorder,
    probe: aiohttp.ClientSession,
    retry_after: str | None,
) -> None:
    """No or garbage Retry-After: positive, finite, growing waits under the cap; then it subscribes."""
    emulator.faults.fail_next("POST", "/webhooks", 429, retry_after=retry_after, times=4)
    await hub.subscribe(emulator.world.project_gid, Router())
    policy = hub.client.config.retry
    assert len(sleeps.delays) == 4
    assert all(0 < delay <= policy.backoff_cap for delay in sleeps.delays)
    assert sleeps.delays == sorted(sleeps.delays)
    assert sleeps.delays[-1] > sleeps.delays[0]
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


async def test_an_endless_429_storm_raises_rate_limited_and_disarms_the_token(
    emulator: Emulator,
    hub: Hub,
    store: ArmedMemoryStore,
    sleeps: SleepRecorder,
    probe: aiohttp.ClientSession,
) -> None:
    """429 on every attempt: RateLimited with the last Retry-After after max_attempts, nothing armed."""
    emulator.faults.fail_next("POST", "/webhooks", 429, retry_after=7, times=50)
    with pytest.raises(RateLimited) as caught:
        await hub.subscribe(emulator.world.project_gid, Router())
    assert caught.value.retry_after == 7
    assert len(sleeps.delays) == hub.client.config.retry.max_attempts - 1
    assert len(store.armed_targets) == 1
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


async def test_a_5xx_burst_on_reads_is_retried_and_the_health_check_still_answers(
    emulator: Emulator, hub: Hub, store: ArmedMemoryStore, sleeps: SleepRecorder
) -> None:
    """Three 503s on GET /webhooks/{gid}: retried (reads are safe), and the report is OK."""
    await hub.subscribe(emulator.world.project_gid, Router())
    emulator.faults.fail_next("GET", "/webhooks/", 503, times=3)
    [report] = await hub.health()
    assert report.status is HealthStatus.OK
    assert len(sleeps.delays) == 3
    await assert_nothing_half_made(emulator, store)


async def test_a_5xx_on_create_is_not_retried_and_leaves_nothing(
    emulator: Emulator,
    hub: Hub,
    store: ArmedMemoryStore,
    sleeps: SleepRecorder,
    probe: aiohttp.ClientSession,
) -> None:
    """500 on POST /webhooks: ServerError at once (a write may have happened), nothing half-made."""
    emulator.faults.fail_next("POST", "/webhooks", 500, times=3)
    with pytest.raises(ServerError) as caught:
        await hub.subscribe(emulator.world.project_gid, Router())
    assert caught.value.status == 500
    assert sleeps.delays == []
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


async def test_a_5xx_on_delete_keeps_webhook_and_secret_together_until_the_retry(
    emulator: Emulator, hub: Hub, store: ArmedMemoryStore
) -> None:
    """503 on DELETE: unsubscribe raises and both halves stay; a second unsubscribe removes both."""
    subscription = await hub.subscribe(emulator.world.project_gid, Router())
    emulator.faults.fail_next("DELETE", "/webhooks/", 503)
    with pytest.raises(ServerError):
        await subscription.unsubscribe()
    assert subscription.webhook_gid in emulator.webhooks
    await assert_nothing_half_made(emulator, store)
    await subscription.unsubscribe()
    assert emulator.webhooks == {}
    await assert_nothing_half_made(emulator, store)


async def test_a_connection_reset_on_create_raises_transport_error_and_leaves_nothing(
    emulator: Emulator, hub: Hub, store: ArmedMemoryStore, probe: aiohttp.ClientSession
) -> None:
    """The create's connection is dropped before any answer: TransportError, nothing half-made."""
    emulator.faults.reset_next("POST", "/webhooks")
    with pytest.raises(TransportError):
        await hub.subscribe(emulator.world.project_gid, Router())
    await assert_nothing_half_made(emulator, store, probe=probe, armed=store.armed_targets)


async def test_connection_resets_on_reads_are_retried(
    emulator: Emulator, hub: Hub, store: ArmedMemoryStore, sleeps: SleepRecorder
) -> None:
    """Two resets on GET /webhooks/{gid}: the health check retries through them and reports OK."""
    await hub.subscribe(emulator.world.project_gid, Router())
    emulator.faults.reset_next("GET", "/webhooks/", times=2)
    [report] = await hub.health()
    assert report.status is HealthStatus.OK
    # aiohttp itself re-sends an idempotent request once when a reused keep-alive connection drops,
    # so the client may see one reset or both.
    assert 1 <= len(sleeps.delays) <= 2
    await assert_nothing_half_made(emulator, store)


# -- slow receiver ----------------------------------------------------------------------------------


async def _slow_run(
    emulator: Emulator, clock: ManualClock, client: AsanaClient, config: ReceiverConfig
) -> tuple[int, list[bool]]:
    """Deliver one event to a handler that needs longer than Asana's delivery budget the first time,
    let Asana retry a minute later; return the handler's run count and each attempt's success."""
    runs = 0
    finished = anyio.Event()
    router = Router()

    async def slow(event: Event) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await anyio.sleep(1.5)  # the emulator's delivery budget is 1 s
            finished.set()

    router.add(slow)
    async with ArmedMemoryStore() as store, Hub(store=store, client=client, receiver_config=config) as hub:
        subscription = await hub.subscribe(emulator.world.project_gid, router)
        emulator.emit(_event(), webhook_gid=subscription.webhook_gid)
        await emulator.wait_idle()
        with anyio.fail_after(10):
            await finished.wait()
        clock.advance(60)  # Asana's first retry comes a minute later
        await emulator.wait_idle()
        attempts = [
            d.succeeded for d in emulator.deliveries if d.webhook_gid == subscription.webhook_gid and d.events
        ]
        await assert_nothing_half_made(emulator, store)
    return runs, attempts


async def test_a_slow_inline_handler_is_retried_by_asana_but_runs_once_with_dedupe(
    emulator: Emulator, clock: ManualClock, client: AsanaClient
) -> None:
    """W19 inline: the first attempt times out, the retry gets 200 from dedupe and the handler ran once."""
    runs, attempts = await _slow_run(emulator, clock, client, ReceiverConfig(ack_mode=AckMode.INLINE))
    assert attempts == [False, True]
    assert runs == 1


async def test_without_dedupe_a_slow_inline_handler_runs_again_on_the_retry(
    emulator: Emulator, clock: ManualClock, client: AsanaClient
) -> None:
    """Dedupe off: Asana's retry of the timed-out batch is handled a second time (at-least-once)."""
    config = ReceiverConfig(ack_mode=AckMode.INLINE, dedupe_window=None)
    runs, attempts = await _slow_run(emulator, clock, client, config)
    assert attempts == [False, True]
    assert runs == 2


async def test_a_slow_background_handler_is_acknowledged_at_once_and_never_retried(
    emulator: Emulator, clock: ManualClock, client: AsanaClient
) -> None:
    """W19 background: 200 right after verification, so Asana never retries and the handler runs once."""
    runs, attempts = await _slow_run(emulator, clock, client, ReceiverConfig(ack_mode=AckMode.BACKGROUND))
    assert attempts == [True]
    assert runs == 1


# -- restarts ---------------------------------------------------------------------------------------


async def test_a_receiver_restart_mid_stream_recovers_secrets_and_verifies_the_retries(
    emulator: Emulator, clock: ManualClock, client: AsanaClient, tmp_path: Path
) -> None:
    """Deliveries failing while the receiver is down are retried by Asana and verified after restart."""
    path = tmp_path / "secrets.sqlite3"
    before: list[Event] = []
    async with SQLiteStore(path) as store, Hub(store=store, client=client) as first:
        subscription = await first.subscribe(emulator.world.project_gid, _recorder(before))
        port = _port(first.receiver)
        emulator.emit(_event("before"), webhook_gid=subscription.webhook_gid)
        await emulator.wait_idle()
    assert [_name(e) for e in before] == ["before"]

    emulator.emit(_event("while down 1"), webhook_gid=subscription.webhook_gid)
    emulator.emit(_event("while down 2"), webhook_gid=subscription.webhook_gid)
    await emulator.wait_idle()
    down = [d for d in emulator.deliveries if d.events and not d.succeeded]
    assert len(down) == 1
    assert down[0].status is None  # nobody listening: connection refused

    after: list[Event] = []
    config = ReceiverConfig(port=port)
    async with SQLiteStore(path) as store, Hub(store=store, client=client, receiver_config=config) as second:
        again = await second.subscribe(emulator.world.project_gid, _recorder(after))
        assert again.reused
        assert again.webhook_gid == subscription.webhook_gid
        clock.advance(60)
        await emulator.wait_idle()
        assert sorted(_name(e) for e in after) == ["while down 1", "while down 2"]
        assert emulator.deliveries[-1].succeeded
        async with aiohttp.ClientSession() as probe:
            await assert_nothing_half_made(emulator, store, probe=probe)


async def test_a_pending_create_survives_a_receiver_restart(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """A create armed before a restart is still answered after it, from the reopened SQLite file."""
    path = tmp_path / "secrets.sqlite3"
    token = new_path_token()
    async with SQLiteStore(path) as store, Receiver(store) as first:
        port = _port(first)
        target = first.target_for(token)
        await store.add_pending(
            PendingCreate(
                token=token,
                resource_gid=emulator.world.project_gid,
                target=target,
                expires_at=time.time() + 60,
            )
        )
    async with SQLiteStore(path) as store, Receiver(store, config=ReceiverConfig(port=port)) as second:
        assert second.target_for(token) == target
        created = await client.create_webhook(emulator.world.project_gid, target)
        record = await store.get(token)
        assert record is not None
        assert created.secret == record.secret == emulator.webhooks[created.webhook.gid].secret
        await store.attach_webhook(token, created.webhook.gid)
        await store.clear_pending(token)
        async with aiohttp.ClientSession() as probe:
            await assert_nothing_half_made(emulator, store, probe=probe)


# -- Asana deletes a failing webhook ----------------------------------------------------------------


async def test_a_webhook_deleted_after_24_hours_of_failures_is_detected_and_repaired(
    emulator: Emulator, clock: ManualClock, hub: Hub, store: ArmedMemoryStore
) -> None:
    """W18: a day of 500s makes Asana delete the webhook; health() says DELETED; repair restores flow."""
    failing = True
    seen: list[Event] = []
    router = Router()

    async def handle(event: Event) -> None:
        if failing:
            raise RuntimeError("downstream is down")
        seen.append(event)

    router.add(handle)
    subscription = await hub.subscribe(emulator.world.project_gid, router)
    old_gid = subscription.webhook_gid
    old_secret = emulator.webhooks[old_gid].secret
    emulator.emit(_event("lost"), webhook_gid=old_gid)
    await emulator.wait_idle()
    for _ in range(60):
        if old_gid not in emulator.webhooks:
            break
        clock.advance(3600)
        await emulator.wait_idle()
    assert old_gid not in emulator.webhooks
    attempts = [d for d in emulator.deliveries if d.webhook_gid == old_gid and d.events]
    assert attempts
    assert not any(d.succeeded for d in attempts)
    assert attempts[-1].at - attempts[0].at == pytest.approx(24 * 3600)

    [report] = await hub.health()
    assert report.status is HealthStatus.DELETED
    assert report.webhook_gid == old_gid

    failing = False
    [report] = await hub.health(repair=True)
    assert report.status is HealthStatus.REPAIRED
    assert report.replacement is not None
    new_gid = report.replacement.webhook_gid
    assert new_gid != old_gid
    assert emulator.webhooks[new_gid].secret != old_secret
    emulator.emit(_event("after repair"), webhook_gid=new_gid)
    await emulator.wait_idle()
    assert [_name(e) for e in seen] == ["after repair"]
    [report] = await hub.health()
    assert report.status is HealthStatus.OK
    async with aiohttp.ClientSession() as probe:
        await assert_nothing_half_made(emulator, store, probe=probe)
