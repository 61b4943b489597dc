"""Clocks: the manual clock moves only when told and wakes sleepers; timestamps look like Asana's."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio
import pytest

from asana_hooks.emulator import Clock, ManualClock, SystemClock
from asana_hooks.emulator.clock import isoformat

pytestmark = pytest.mark.anyio


def test_a_manual_clock_starts_at_2024_and_moves_only_when_advanced() -> None:
    """The default start is 2024-01-01T00:00:00Z; advance adds seconds."""
    clock = ManualClock()
    assert isoformat(clock.now()) == "2024-01-01T00:00:00.000Z"
    clock.advance(1.5)
    assert isoformat(clock.now()) == "2024-01-01T00:00:01.500Z"
    assert "2024-01-01T00:00:01.500Z" in repr(clock)


def test_a_manual_clock_accepts_a_datetime_or_epoch_start_and_never_goes_back() -> None:
    """Starts can be datetimes or epoch seconds; a negative advance is refused."""
    assert ManualClock(datetime(2025, 6, 1, tzinfo=UTC)).now() == datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    clock = ManualClock(100.0)
    assert clock.now() == 100.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_a_sleeper_wakes_when_the_clock_reaches_its_deadline() -> None:
    """sleep_until returns only once advance() has moved the clock far enough."""
    clock = ManualClock(0.0)
    woke = anyio.Event()

    async def sleeper() -> None:
        await clock.sleep_until(10.0)
        woke.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        await anyio.wait_all_tasks_blocked()
        clock.advance(9.0)
        await anyio.wait_all_tasks_blocked()
        assert not woke.is_set()
        clock.advance(1.0)
        await woke.wait()


async def test_sleeping_until_a_past_deadline_returns_at_once() -> None:
    """No advance is needed for a moment already reached."""
    clock = ManualClock(50.0)
    with anyio.fail_after(1):
        await clock.sleep_until(50.0)
        await SystemClock().sleep_until(time.time() - 1)


async def test_a_cancelled_sleeper_leaves_no_waiter_behind() -> None:
    """Cancelling sleep_until removes its registration."""
    clock = ManualClock(0.0)
    with anyio.move_on_after(0):
        await clock.sleep_until(5.0)
    assert clock._waiters == []


def test_the_system_clock_reads_wall_time_and_both_clocks_fit_the_protocol() -> None:
    """SystemClock.now() is time.time(); both classes satisfy Clock."""
    assert abs(SystemClock().now() - time.time()) < 5
    assert isinstance(SystemClock(), Clock)
    assert isinstance(ManualClock(), Clock)
    assert repr(SystemClock()) == "SystemClock()"


def test_timestamps_have_milliseconds_and_a_z() -> None:
    """isoformat truncates to milliseconds in UTC."""
    assert isoformat(1_700_000_000.123_9) == "2023-11-14T22:13:20.123Z"
