"""The inbox's pure decisions: duplicate suppression, backoff and dead-lettering, with injected time."""

from __future__ import annotations

import json

import pytest

from asana_hooks.config import InboxConfig
from asana_hooks.deliveries import event_fingerprint, parse_delivery
from asana_hooks.inbox import (
    MAX_ERROR_LENGTH,
    delivery_fingerprints,
    describe_error,
    fresh_fingerprints,
    next_attempt_at,
    seen_key,
    select_fresh,
)
from tests.core.case_values import B_EV

CONFIG = InboxConfig(max_attempts=5, backoff_base=2.0, backoff_cap=10.0)


def test_unseen_fingerprints_are_all_fresh_in_order() -> None:
    """Nothing seen: every fingerprint is kept, in the batch's order."""
    assert fresh_fingerprints(["b", "a", "c"], {}, 100.0, 60.0) == ["b", "a", "c"]


def test_a_fingerprint_seen_within_the_window_is_dropped() -> None:
    """Seen 59 s ago with a 60 s window: a duplicate; the others stay."""
    assert fresh_fingerprints(["a", "b"], {"a": 41.0}, 100.0, 60.0) == ["b"]


def test_a_fingerprint_seen_exactly_a_window_ago_is_fresh_again() -> None:
    """The window is half-open: at now - window the mark no longer counts."""
    assert fresh_fingerprints(["a"], {"a": 40.0}, 100.0, 60.0) == ["a"]


def test_a_mark_from_a_clock_ahead_still_counts_as_seen() -> None:
    """A replica whose clock runs ahead wrote the mark 'in the future': still a duplicate."""
    assert fresh_fingerprints(["a"], {"a": 105.0}, 100.0, 60.0) == []


def test_a_repeat_inside_one_batch_is_kept_once() -> None:
    """The same event twice in one batch is handled once."""
    assert fresh_fingerprints(["a", "b", "a"], {}, 100.0, 60.0) == ["a", "b"]


def test_without_a_window_everything_is_kept_repeats_included() -> None:
    """Dedupe disabled: the batch is persisted exactly as it came."""
    assert fresh_fingerprints(["a", "a"], {"a": 99.0}, 100.0, None) == ["a", "a"]


def test_seen_keys_are_per_path_token() -> None:
    """The same event on two webhooks is two keys."""
    assert seen_key("t1", "f") != seen_key("t2", "f")


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    """With zero jitter the waits are base/2 * 2**(n-1), capped at cap/2: 1, 2, 4, 5 seconds."""
    waits = [next_attempt_at(n, CONFIG, 1000.0, 0.0) for n in (1, 2, 3, 4)]
    assert waits == [1001.0, 1002.0, 1004.0, 1005.0]


def test_jitter_stays_below_the_ceiling() -> None:
    """Jitter near 1 gives just under the full ceiling, never more."""
    at = next_attempt_at(2, CONFIG, 0.0, 0.999999)
    assert at is not None
    assert 3.99 < at < 4.0


def test_the_last_attempt_makes_a_dead_letter() -> None:
    """At max_attempts failures there is no next attempt."""
    assert next_attempt_at(4, CONFIG, 0.0, 0.5) is not None
    assert next_attempt_at(5, CONFIG, 0.0, 0.5) is None
    assert next_attempt_at(1, InboxConfig(max_attempts=1), 0.0, 0.5) is None


def test_bad_jitter_is_refused() -> None:
    """A random value outside [0, 1) is a programming error."""
    with pytest.raises(ValueError, match="random_value"):
        next_attempt_at(1, CONFIG, 0.0, 1.0)


def test_fingerprints_cover_parsed_events_then_unparsed_items() -> None:
    """Both kinds of item are keyed, parsed events first."""
    body = json.dumps({"events": [7, json.loads(B_EV)["events"][0]]}).encode()
    delivery = parse_delivery(body)
    assert delivery_fingerprints(delivery) == [
        event_fingerprint(delivery.events[0].raw),
        event_fingerprint(7),
    ]


def test_select_fresh_keeps_only_the_named_items_and_the_whole_body() -> None:
    """Rebuilding a delivery from fingerprints drops the others and keeps the signed body."""
    first = json.loads(B_EV)["events"][0]
    second = {**first, "action": "added"}
    body = json.dumps({"events": [first, second, "odd", first]}).encode()
    delivery = parse_delivery(body)
    chosen = select_fresh(
        delivery, [event_fingerprint(second), event_fingerprint("odd"), event_fingerprint(first)]
    )
    assert [event.raw for event in chosen.events] == [first, second]
    assert chosen.unparsed == ["odd"]
    assert chosen.body == body


def test_error_descriptions_are_bounded() -> None:
    """The stored failure names the type and message, cut to the limit."""
    assert describe_error(RuntimeError("boom")) == "RuntimeError: boom"
    assert describe_error(KeyError()) == "KeyError"
    assert len(describe_error(ValueError("x" * 5000))) == MAX_ERROR_LENGTH


def test_inbox_settings_are_validated() -> None:
    """Negative workers, no attempts, an inverted backoff or a zero lease are refused."""
    for bad in (
        {"workers": -1},
        {"max_attempts": 0},
        {"backoff_base": 5.0, "backoff_cap": 1.0},
        {"lease": 0.0},
        {"poll_interval": 0.0},
    ):
        with pytest.raises(ValueError, match=r"must|need"):
            InboxConfig(**bad)
