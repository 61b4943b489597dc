"""RecentEvents: a bounded, time-windowed memory of handled events, on an injected clock."""

from __future__ import annotations

import pytest

from asana_hooks.dedupe import RecentEvents


def test_a_key_is_new_once_then_seen_within_the_window() -> None:
    """The first sighting records the key; the next within the window reports it seen."""
    recent = RecentEvents(window_seconds=10.0, max_entries=10)
    assert recent.seen("a", 0.0) is False
    assert recent.seen("a", 9.9) is True


def test_a_key_is_new_again_once_the_window_passed() -> None:
    """At exactly the window's end the key has expired and is recorded afresh."""
    recent = RecentEvents(window_seconds=10.0, max_entries=10)
    recent.seen("a", 0.0)
    assert recent.seen("a", 10.0) is False
    assert recent.seen("a", 19.0) is True


def test_the_window_counts_from_the_first_sighting() -> None:
    """Seeing a key again does not extend its window."""
    recent = RecentEvents(window_seconds=10.0, max_entries=10)
    recent.seen("a", 0.0)
    recent.seen("a", 8.0)
    assert recent.contains("a", 10.5) is False


def test_expired_keys_are_evicted() -> None:
    """Memory shrinks as keys expire."""
    recent = RecentEvents(window_seconds=5.0, max_entries=100)
    for i in range(5):
        recent.seen(f"k{i}", float(i))
    assert len(recent) == 5
    recent.contains("x", 7.5)
    assert len(recent) == 2


def test_memory_is_bounded_by_dropping_the_oldest() -> None:
    """Beyond max_entries the oldest key is forgotten first."""
    recent = RecentEvents(window_seconds=1000.0, max_entries=3)
    for key in "abcd":
        recent.seen(key, 1.0)
    assert len(recent) == 3
    assert recent.contains("a", 1.0) is False
    assert recent.contains("d", 1.0) is True


def test_contains_records_nothing() -> None:
    """contains is a pure question."""
    recent = RecentEvents(window_seconds=10.0, max_entries=10)
    assert recent.contains("a", 0.0) is False
    assert recent.contains("a", 0.0) is False
    assert len(recent) == 0


def test_forget_makes_a_key_new_again() -> None:
    """A forgotten key counts as new on its next arrival."""
    recent = RecentEvents(window_seconds=10.0, max_entries=10)
    recent.record("a", 0.0)
    recent.forget("a")
    recent.forget("never-seen")
    assert recent.seen("a", 1.0) is False


def test_recording_again_restarts_the_window() -> None:
    """record() moves a key to now, so it outlives its first window."""
    recent = RecentEvents(window_seconds=10.0, max_entries=10)
    recent.record("a", 0.0)
    recent.record("b", 1.0)
    recent.record("a", 5.0)
    assert recent.contains("a", 12.0) is True
    assert recent.contains("b", 12.0) is False


@pytest.mark.parametrize(("window", "entries"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_nonsense_settings_are_refused(window: float, entries: int) -> None:
    """A non-positive window or capacity raises ValueError."""
    with pytest.raises(ValueError, match="positive"):
        RecentEvents(window_seconds=window, max_entries=entries)
