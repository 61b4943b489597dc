"""Time for the emulator: the real wall clock, or a manual one tests move forward by hand.

Everything the emulator schedules far ahead (delivery retries, 8-hourly heartbeats, deletion after
24 h of failures, the per-minute rate-limit window) and every timestamp it reports reads a `Clock`.
Short waits that only exist to make the network behave (the batch window, handshake and delivery
timeouts) use real time, so a test never has to move the clock just to get a delivery out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Clock", "ManualClock", "SystemClock", "isoformat"]

# A fixed default start keeps timestamps in tests reproducible.
_DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


@runtime_checkable
class Clock(Protocol):
    """Where the emulator reads the time (seconds since the Unix epoch) and waits for a moment."""

    def now(self) -> float:
        """The current time, in seconds since the Unix epoch."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once `now()` has reached `deadline` (at once when it already has)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        """The current wall-clock time."""
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep for real until `deadline`."""
        await anyio.sleep(max(0.0, deadline - time.time()))

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to, so 24 hours of retries pass in milliseconds.

    Args:
        start: The initial time, as an aware `datetime` or seconds since the epoch
            (default 2024-01-01T00:00:00Z).
    """

    def __init__(self, start: datetime | float = _DEFAULT_START) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._waiters: list[tuple[float, anyio.Event]] = []

    def now(self) -> float:
        """The time the clock was last set or advanced to."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake everything that was waiting for a moment now reached.

        Args:
            seconds: How far to move; must not be negative (time never runs backwards).

        Raises:
            ValueError: If `seconds` is negative.
        """
        if seconds < 0:
            raise ValueError("a clock cannot move backwards")
        self._now += seconds
        due = [event for deadline, event in self._waiters if deadline <= self._now]
        self._waiters = [(deadline, event) for deadline, event in self._waiters if deadline > self._now]
        for event in due:
            event.set()

    async def sleep_until(self, deadline: float) -> None:
        """Wait until `advance` has moved the clock to `deadline` or beyond."""
        if deadline <= self._now:
            return
        event = anyio.Event()
        entry = (deadline, event)
        self._waiters.append(entry)
        try:
            await event.wait()
        finally:
            # A cancelled sleeper must not linger in the list and be "woken" later.
            if entry in self._waiters:
                self._waiters.remove(entry)

    def __repr__(self) -> str:
        return f"ManualClock({isoformat(self._now)!r})"


def isoformat(timestamp: float) -> str:
    """Format epoch seconds the way Asana does: ISO 8601, UTC, milliseconds, ``Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
