"""The emulator is a well-behaved resource: start once, close idempotently, fail cleanly, expose its app."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from asana_hooks.emulator import Emulator, ManualClock, SystemClock
from tests.emulator.rest_client import Rest
from tests.emulator.target_server import TargetServer

pytestmark = pytest.mark.anyio


async def test_base_url_is_only_known_after_start() -> None:
    """Reading base_url before start() raises; the repr says it is not started."""
    emulator = Emulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emulator.base_url
    assert "not started" in repr(emulator)
    assert isinstance(emulator.clock, SystemClock)


async def test_start_and_aclose_work_without_a_context_manager() -> None:
    """start() serves, a second start() is refused, aclose() twice is harmless."""
    emulator = Emulator(token="fixed")
    await emulator.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await emulator.start()
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                emulator.base_url + "/workspaces", headers={"Authorization": "Bearer fixed"}
            ) as response,
        ):
            assert response.status == 200
    finally:
        await emulator.aclose()
    await emulator.aclose()


async def test_a_port_in_use_fails_start_and_leaves_nothing_running(emulator: Emulator) -> None:
    """Binding an occupied port raises OSError and the emulator can still be closed."""
    port = int(emulator.base_url.rsplit(":", 1)[1].split("/", 1)[0])
    clash = Emulator(port=port)
    with pytest.raises(OSError, match="address already in use"):
        await clash.start()
    await clash.aclose()


async def test_events_cannot_be_emitted_after_close(clock: ManualClock, target: TargetServer) -> None:
    """Once closed, emitting to a remaining webhook raises instead of queuing silently."""
    async with Emulator(clock=clock) as emu, aiohttp.ClientSession() as session:
        reply = await Rest(session, emu.base_url, emu.token, validate=False).create_webhook(
            emu.world.project_gid, target.url()
        )
        gid = reply.json()["data"]["gid"]
    with pytest.raises(RuntimeError, match="not started"):
        emu.emit({"action": "changed"}, webhook_gid=gid)


async def test_the_app_is_an_aiohttp_application_with_asanas_routes(emulator: Emulator) -> None:
    """`app` exposes the routes under /api/1.0 for mounting or inspection."""
    assert isinstance(emulator.app, web.Application)
    paths = {route.resource.canonical for route in emulator.app.router.routes() if route.resource}
    assert {"/api/1.0/webhooks", "/api/1.0/webhooks/{gid}", "/api/1.0/tasks/{gid}/stories"} <= paths


async def test_an_idle_emulator_is_idle_at_once(emulator: Emulator) -> None:
    """wait_idle returns immediately when nothing was ever queued; handshake records have no events."""
    await emulator.wait_idle()
    assert emulator.deliveries == []
    assert emulator.handshakes == []


async def test_the_bare_app_can_be_served_by_another_runner() -> None:
    """An unstarted emulator's app, served elsewhere, answers the read routes with its token."""
    emulator = Emulator(token="mounted")
    runner = web.AppRunner(emulator.app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        headers = {"Authorization": "Bearer mounted"}
        params = {"workspace": emulator.world.workspace_gid, "limit": "1"}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(f"http://127.0.0.1:{port}/api/1.0/webhooks", params=params) as response,
        ):
            assert response.status == 200
            assert await response.json() == {"data": [], "next_page": None}
    finally:
        await runner.cleanup()


async def test_the_webhooks_view_is_read_only(emulator: Emulator) -> None:
    """emulator.webhooks cannot be used to add or drop webhooks behind the API's back."""
    with pytest.raises(TypeError):
        emulator.webhooks["1"] = emulator.webhooks.get("1")  # type: ignore[index]
