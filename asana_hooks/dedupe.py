"""Remembering recently handled events, with no I/O and no clock of its own.

Asana resends a batch it did not see acknowledged within 10 seconds, and its events carry no id, so
a receiver keys events by fingerprint (:func:`asana_hooks.deliveries.event_fingerprint`) and drops
those it handled a short while ago. Invariants of :class:`RecentEvents`:

* Time is always an argument; a key is "recent" for ``window_seconds`` after it was recorded.
* Memory is bounded: at most ``max_entries`` keys; expired keys go first, then the oldest.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RecentEvents"]


class RecentEvents:
    """A bounded, time-windowed set of keys.

    Args:
        window_seconds: How long a recorded key counts as seen.
        max_entries: The most keys kept; the oldest is forgotten first beyond that.
    """

    def __init__(self, window_seconds: float, max_entries: int) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._window = window_seconds
        self._max = max_entries
        # Insertion order is recording order, so expired keys sit at the front.
        self._seen_at: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen_at)

    def contains(self, key: str, now: float) -> bool:
        """Whether ``key`` was recorded within the window before ``now``; records nothing."""
        self._expire(now)
        return key in self._seen_at

    def record(self, key: str, now: float) -> None:
        """Record ``key`` as seen at ``now`` (restarting its window)."""
        self._expire(now)
        self._seen_at.pop(key, None)
        self._seen_at[key] = now
        while len(self._seen_at) > self._max:
            self._seen_at.popitem(last=False)

    def seen(self, key: str, now: float) -> bool:
        """True if ``key`` was recorded within the window; otherwise record it and return False."""
        if self.contains(key, now):
            return True
        self.record(key, now)
        return False

    def forget(self, key: str) -> None:
        """Drop ``key``, so that its next arrival counts as new."""
        self._seen_at.pop(key, None)

    def _expire(self, now: float) -> None:
        cutoff = now - self._window
        while self._seen_at:
            key, at = next(iter(self._seen_at.items()))
            if at > cutoff:
                break
            del self._seen_at[key]
