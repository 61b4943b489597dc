"""Injected faults make the emulator fail the way a real Asana (or network) can."""

from __future__ import annotations

import json

import aiohttp
import anyio
import pytest

from asana_hooks.emulator import Emulator, ManualClock
from asana_hooks.emulator.faults import Faults
from tests.emulator.rest_client import Rest
from tests.emulator.target_server import TargetServer

pytestmark = pytest.mark.anyio


# -- REST API faults -----------------------------------------------------------------------------


async def test_fail_next_answers_the_chosen_status_once(emulator: Emulator, rest: Rest) -> None:
    """A 500 in Asana's shape with a support phrase, then normal service."""
    emulator.faults.fail_next("GET", "/webhooks", 500)
    params = {"workspace": emulator.world.workspace_gid}
    failed = await rest.call("GET", "/webhooks", params=params)
    recovered = await rest.call("GET", "/webhooks", params=params)
    assert failed.status == 500
    assert failed.error["phrase"]
    assert failed.error["message"] == "Injected failure: 500"
    assert recovered.status == 200


async def test_an_injected_429_carries_the_chosen_retry_after(emulator: Emulator, rest: Rest) -> None:
    """Retry-After is sent verbatim (even garbage), with Asana's rate-limit message."""
    emulator.faults.fail_next("*", "/users", 429, retry_after="soon", times=2)
    first = await rest.call("GET", "/users/me")
    second = await rest.call("GET", "/users/me")
    third = await rest.call("GET", "/users/me")
    assert (first.status, second.status, third.status) == (429, 429, 200)
    assert first.headers["Retry-After"] == "soon"
    assert first.error["message"].startswith("You've made too many requests")


async def test_a_fault_only_hits_its_method_and_path(emulator: Emulator, rest: Rest) -> None:
    """A POST /webhooks fault leaves GET /webhooks and other paths alone."""
    emulator.faults.fail_next("POST", "/webhooks", 503, message="down for maintenance")
    listing = await rest.call("GET", "/webhooks", params={"workspace": emulator.world.workspace_gid})
    created = await rest.call(
        "POST",
        "/webhooks",
        body={"data": {"resource": emulator.world.project_gid, "target": "http://x.test/"}},
    )
    assert listing.status == 200
    assert created.status == 503
    assert created.error["message"] == "down for maintenance"


async def test_reset_next_closes_the_connection_without_a_response(emulator: Emulator, rest: Rest) -> None:
    """The client sees a disconnection instead of a status, and the request had no effect."""
    emulator.faults.reset_next("POST", "/projects")
    body = {"data": {"name": "Lost", "workspace": emulator.world.workspace_gid}}
    with pytest.raises(aiohttp.ClientConnectionError):
        await rest.call("POST", "/projects", body=body)
    assert [project.name for project in emulator.world.of_type("project")] == ["Launch", "Backlog"]
    assert (await rest.call("POST", "/projects", body=body)).status == 201


async def test_reset_next_defeats_the_clients_single_idempotent_retry(emulator: Emulator, rest: Rest) -> None:
    """aiohttp silently retries a GET once on a dropped connection, so two resets are needed to surface it."""
    emulator.faults.reset_next("GET", "/users/me", times=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        await rest.call("GET", "/users/me")
    assert (await rest.call("GET", "/users/me")).status == 200


async def test_delay_next_answers_late_but_correctly(emulator: Emulator, rest: Rest) -> None:
    """A slowed request still gets its normal answer (a deadline shorter than the delay would not)."""
    emulator.faults.delay_next("GET", "/workspaces", 0.05)
    with anyio.move_on_after(0.01) as scope:
        await rest.call("GET", "/workspaces")
    assert scope.cancelled_caught
    emulator.faults.delay_next("GET", "/workspaces", 0.01)
    reply = await rest.call("GET", "/workspaces")
    assert reply.json()["data"][0]["gid"] == emulator.world.workspace_gid


def test_faults_are_used_up_and_can_be_cleared() -> None:
    """Armed faults fire `times` times, and clear() disarms all of them."""
    faults = Faults()
    faults.fail_next("get", "/a", 500, times=2)
    faults.delay_next("GET", "/a", 1.5)
    assert faults.take_api("GET", "/a/b").status == 500
    second = faults.take_api("GET", "/a")
    assert (second.status, second.delay) == (500, 0.0)
    assert faults.take_api("GET", "/a").status is None
    faults.reset_next("*", "/")
    faults.drop_handshake()
    faults.duplicate_deliveries()
    faults.reorder_deliveries()
    faults.clear()
    assert faults.take_api("PUT", "/x") == faults.take_api("PUT", "/x")
    assert not faults.take_api("PUT", "/x").reset
    assert not faults.take_handshake().drop
    assert not faults.take_duplicate()
    assert not faults.take_reorder()


# -- handshake faults ----------------------------------------------------------------------------


async def test_a_dropped_handshake_fails_the_create_as_a_timeout(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """With immediate=True the create fails at once with the timeout message; nothing was sent."""
    emulator.faults.drop_handshake(immediate=True)
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    assert reply.status == 400
    assert "did not respond within 2 seconds" in reply.error["message"]
    assert target.handshakes == []
    assert emulator.webhooks == {}


async def test_a_dropped_handshake_waits_out_the_timeout(clock: ManualClock, target: TargetServer) -> None:
    """Without immediate, the create is held for the handshake timeout before failing."""
    async with Emulator(clock=clock, handshake_timeout=0.02) as emu, aiohttp.ClientSession() as session:
        emu.faults.drop_handshake()
        reply = await Rest(session, emu.base_url, emu.token, validate=False).create_webhook(
            emu.world.project_gid, target.url()
        )
        assert reply.status == 400
        assert target.handshakes == []


async def test_a_delayed_handshake_past_the_timeout_fails_the_create(
    clock: ManualClock, target: TargetServer
) -> None:
    """The delay counts toward the handshake timeout."""
    async with Emulator(clock=clock, handshake_timeout=0.02) as emu, aiohttp.ClientSession() as session:
        rest = Rest(session, emu.base_url, emu.token, validate=False)
        emu.faults.delay_handshake(1.0)
        late = await rest.create_webhook(emu.world.project_gid, target.url("late"))
        emu.faults.delay_handshake(0.001)
        in_time = await rest.create_webhook(emu.world.project_gid, target.url("in-time"))
        assert late.status == 400
        assert in_time.status == 201


async def test_a_wrong_handshake_secret_differs_from_the_201_secret(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The handshake carries one secret, the 201 and the signatures another: clients must notice."""
    emulator.faults.wrong_handshake()
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    assert reply.status == 201
    handshake_secret = target.handshakes[0].headers["X-Hook-Secret"]
    assert reply.json()["X-Hook-Secret"] != handshake_secret
    assert emulator.handshakes[0].secret == handshake_secret
    assert emulator.handshakes[0].events == []


async def test_an_extra_handshake_follows_the_create_and_is_recorded(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """A second X-Hook-Secret POST with a fresh secret follows the create; a careful target refuses it."""
    target.refuse_handshakes_after_first = True
    emulator.faults.extra_handshake()
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    await emulator.wait_idle()
    first, extra = target.handshakes
    assert first.headers["X-Hook-Secret"] != extra.headers["X-Hook-Secret"]
    assert emulator.handshakes[-1].status == 403
    assert emulator.webhooks[reply.json()["data"]["gid"]].secret == reply.json()["X-Hook-Secret"]


# -- delivery faults -----------------------------------------------------------------------------


async def test_a_duplicated_delivery_repeats_the_same_bytes_and_signature(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The next delivery arrives twice, identical."""
    await rest.create_webhook(emulator.world.project_gid, target.url())
    emulator.faults.duplicate_deliveries()
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    _, first, second = target.deliveries
    assert first.body == second.body
    assert first.headers["X-Hook-Signature"] == second.headers["X-Hook-Signature"]


async def test_reordered_deliveries_send_the_later_batch_first(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The held batch goes out right after the batch that follows it."""
    await rest.create_webhook(emulator.world.project_gid, target.url())
    emulator.faults.reorder_deliveries()
    project = {"gid": emulator.world.project_gid}
    emulator.emit({"action": "first", "resource": project})
    await emulator.wait_idle()
    assert len(target.deliveries) == 1
    emulator.emit({"action": "second", "resource": project})
    await emulator.wait_idle()
    actions = [json.loads(received.body)["events"][0]["action"] for received in target.deliveries[1:]]
    assert actions == ["second", "first"]


def test_faults_of_one_kind_queue_up_in_arming_order() -> None:
    """Two armed failures apply to successive requests, first-armed first; likewise for handshakes."""
    faults = Faults()
    faults.fail_next("GET", "/", 500)
    faults.fail_next("GET", "/", 503)
    assert [faults.take_api("GET", "/x").status for _ in range(3)] == [500, 503, None]
    faults.delay_handshake(0.5)
    faults.delay_handshake(0.25)
    assert [faults.take_handshake().delay for _ in range(3)] == [0.5, 0.25, 0.0]
