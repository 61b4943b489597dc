"""Asana's per-token limits: a per-minute request quota and caps on concurrent reads and writes.

The emulator accepts one token, so one limiter holds that token's budget. Rejected requests count
against the minute's quota, as they do on Asana. A refused request gets the number of seconds to
put in `Retry-After`.
"""

from __future__ import annotations

import math

from asana_hooks.emulator.clock import Clock

__all__ = ["RateLimiter"]

_WINDOW = 60.0


class RateLimiter:
    """Admits or refuses requests for one token.

    Args:
        clock: Drives the per-minute window.
        per_minute: Requests allowed per minute (Asana's paid tier: 1500).
        max_reads: Concurrent GETs allowed (Asana: 50).
        max_writes: Concurrent POST/PUT/PATCH/DELETE allowed (Asana: 15).
        write_retry_after: `Retry-After` seconds when the write cap is hit; long enough for a
            create's handshake to finish.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        per_minute: int,
        max_reads: int = 50,
        max_writes: int = 15,
        write_retry_after: int = 10,
    ) -> None:
        self._clock = clock
        self._per_minute = per_minute
        self._caps = {False: max_reads, True: max_writes}
        self._running = {False: 0, True: 0}
        self._write_retry_after = write_retry_after
        self._window_start = clock.now()
        self._count = 0

    def acquire(self, *, write: bool) -> int | None:
        """Take a slot, or return the `Retry-After` seconds when the request must be refused.

        Every call counts toward the minute's quota, admitted or not. An admitted request must
        call `release` with the same `write` flag when done.
        """
        now = self._clock.now()
        if now - self._window_start >= _WINDOW:
            self._window_start = now
            self._count = 0
        self._count += 1
        if self._count > self._per_minute:
            return max(1, math.ceil(self._window_start + _WINDOW - now))
        if self._running[write] >= self._caps[write]:
            return self._write_retry_after if write else 1
        self._running[write] += 1
        return None

    def release(self, *, write: bool) -> None:
        """Give back a slot taken by `acquire`."""
        self._running[write] -= 1
