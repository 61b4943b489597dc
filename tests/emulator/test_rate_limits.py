"""Asana's per-token limits: a per-minute quota on the clock and concurrency caps, answered with 429."""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from asana_hooks.emulator import Emulator, ManualClock
from asana_hooks.emulator.rate_limiter import RateLimiter
from tests.emulator.rest_client import Rest
from tests.emulator.target_server import TargetServer

pytestmark = pytest.mark.anyio


async def test_the_per_minute_quota_answers_429_until_the_minute_is_over(clock: ManualClock) -> None:
    """Past the quota: 429 with Retry-After up to the end of the minute; a new minute resets the count."""
    async with Emulator(clock=clock, rate_limit_per_minute=3) as emu, aiohttp.ClientSession() as session:
        rest = Rest(session, emu.base_url, emu.token, validate=False)
        statuses = [(await rest.call("GET", "/users/me")).status for _ in range(3)]
        clock.advance(20)
        limited = await rest.call("GET", "/users/me")
        assert statuses == [200, 200, 200]
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "40"
        assert limited.error["message"] == (
            "You've made too many requests and hit a rate limit. Please retry after the given amount of time."
        )
        clock.advance(40)
        assert (await rest.call("GET", "/users/me")).status == 200


def test_rejected_requests_count_against_the_quota() -> None:
    """Hammering after a 429 keeps the count growing: each call is refused again."""
    clock = ManualClock(0.0)
    limiter = RateLimiter(clock=clock, per_minute=1)
    assert limiter.acquire(write=False) is None
    limiter.release(write=False)
    assert limiter.acquire(write=False) == 60
    clock.advance(59.5)
    assert limiter.acquire(write=False) == 1
    clock.advance(0.5)
    assert limiter.acquire(write=False) is None


def test_reads_and_writes_have_separate_concurrency_caps() -> None:
    """50 concurrent reads and 15 concurrent writes by default; a released slot is reusable."""
    limiter = RateLimiter(clock=ManualClock(0.0), per_minute=1000, write_retry_after=7)
    assert all(limiter.acquire(write=False) is None for _ in range(50))
    assert limiter.acquire(write=False) == 1
    assert all(limiter.acquire(write=True) is None for _ in range(15))
    assert limiter.acquire(write=True) == 7
    limiter.release(write=True)
    assert limiter.acquire(write=True) is None


async def test_creates_hold_their_write_slot_during_the_handshake(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """With 15 creates waiting on handshakes, a 16th write gets 429; after they finish writes pass again."""
    target.hold = anyio.Event()
    statuses: list[int] = []

    async def create(index: int) -> None:
        reply = await rest.create_webhook(emulator.world.project_gid, target.url(f"t{index}"))
        statuses.append(reply.status)

    async with anyio.create_task_group() as tg:
        for index in range(15):
            tg.start_soon(create, index)
        await target.wait_for_handshakes(15)
        blocked = await rest.call(
            "POST", "/projects", body={"data": {"name": "P", "workspace": emulator.world.workspace_gid}}
        )
        read = await rest.call("GET", "/users/me")
        target.hold.set()
    assert blocked.status == 429
    assert blocked.headers["Retry-After"] == "2"
    assert read.status == 200
    assert statuses == [201] * 15
    after = await rest.call(
        "POST", "/projects", body={"data": {"name": "P", "workspace": emulator.world.workspace_gid}}
    )
    assert after.status == 201
