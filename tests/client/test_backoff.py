"""Retry decisions and delays (asana_hooks.backoff): pure functions, no clock, no sleeping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asana_hooks.backoff import (
    backoff_delay,
    is_retryable,
    parse_retry_after,
    retry_delay,
    should_retry,
)
from asana_hooks.config import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, backoff_base=1.0, backoff_cap=30.0, max_retry_after=120.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 2 ", 2.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("120", 120.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("NaN", None),
        ("nan", None),
        ("inf", None),
        ("Infinity", None),
        ("1e3", None),
        ("+2", None),
        ("1_000", None),
        ("2 s", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("9" * 400, None),
    ],
)
def test_parse_retry_after_reads_seconds_and_rejects_everything_else(
    value: str | None, expected: float | None
) -> None:
    """Digits (optionally with a fraction) give seconds; absent, garbage, negative, NaN, inf give None."""
    assert parse_retry_after(value) == expected


@given(st.text(max_size=12))
def test_parse_retry_after_never_returns_a_negative_or_non_finite_value(value: str) -> None:
    """Whatever the header says, the result is None or a finite number >= 0."""
    result = parse_retry_after(value)
    assert result is None or (math.isfinite(result) and result >= 0)


@pytest.mark.parametrize("method", ["GET", "get", "POST", "PUT", "PATCH", "DELETE"])
def test_429_is_retryable_for_every_method(method: str) -> None:
    """A 429 means Asana refused the request, so re-sending is safe even for writes."""
    assert is_retryable(method, status=429)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable_only_for_get(status: int) -> None:
    """5xx may hide a write that took effect: only safe methods retry it."""
    assert is_retryable("GET", status=status)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert not is_retryable(method, status=status)


def test_connection_errors_are_retryable_only_for_get() -> None:
    """A failed exchange is retried for GET, never for writes."""
    assert is_retryable("GET", connection_error=True)
    assert not is_retryable("POST", connection_error=True)
    assert not is_retryable("DELETE", connection_error=True)


@pytest.mark.parametrize("status", [200, 201, 400, 401, 402, 403, 404, 451, 501, 505])
def test_other_statuses_are_never_retryable(status: int) -> None:
    """Client errors and unusual server statuses are final for every method."""
    assert not is_retryable("GET", status=status)
    assert not is_retryable("POST", status=status)


def test_should_retry_stops_when_attempts_are_used_up() -> None:
    """Attempts 1..max-1 may retry; the last attempt never does."""
    assert [should_retry(POLICY, "GET", n, status=429) for n in range(1, 6)] == [True] * 4 + [False]


def test_should_retry_gives_up_on_a_retry_after_above_the_maximum() -> None:
    """A Retry-After longer than max_retry_after is raised rather than slept through."""
    assert should_retry(POLICY, "POST", 1, status=429, retry_after=120.0)
    assert not should_retry(POLICY, "POST", 1, status=429, retry_after=120.5)


def test_should_retry_refuses_a_write_after_a_connection_error() -> None:
    """Connection errors on POST are not retried even with attempts left."""
    assert not should_retry(POLICY, "POST", 1, connection_error=True)
    assert should_retry(POLICY, "GET", 1, connection_error=True)
    assert not should_retry(POLICY, "GET", 1, status=404)


@pytest.mark.parametrize(
    ("attempt", "random_value", "expected"),
    [
        (1, 0.0, 0.5),
        (1, 0.5, 0.75),
        (2, 0.0, 1.0),
        (3, 0.5, 3.0),
        (5, 0.0, 8.0),
        (6, 0.0, 15.0),  # 32 s capped at 30, halved
        (6, 0.5, 22.5),
        (10_000, 0.0, 15.0),
    ],
)
def test_backoff_delay_is_capped_exponential_with_equal_jitter(
    attempt: int, random_value: float, expected: float
) -> None:
    """The delay lies in [ceiling/2, ceiling) where the ceiling doubles per attempt up to the cap."""
    assert backoff_delay(POLICY, attempt, random_value) == expected


@given(
    attempt=st.integers(min_value=1, max_value=5000),
    random_value=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.001, max_value=10.0),
    extra=st.floats(min_value=0.0, max_value=100.0),
)
def test_backoff_delay_is_always_positive_finite_and_within_the_cap(
    attempt: int, random_value: float, base: float, extra: float
) -> None:
    """For every policy and attempt the delay is > 0, finite and <= backoff_cap: never 0 or NaN."""
    policy = RetryPolicy(backoff_base=base, backoff_cap=base + extra)
    delay = backoff_delay(policy, attempt, random_value)
    assert math.isfinite(delay)
    assert 0 < delay <= policy.backoff_cap


@pytest.mark.parametrize("random_value", [-0.1, 1.0, 2.0, math.nan])
def test_backoff_delay_refuses_a_random_value_outside_the_unit_interval(random_value: float) -> None:
    """A random source returning values outside [0, 1) is a bug, reported as ValueError."""
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        backoff_delay(POLICY, 1, random_value)


def test_backoff_delay_refuses_attempt_zero() -> None:
    """Attempts are numbered from 1."""
    with pytest.raises(ValueError, match="start at 1"):
        backoff_delay(POLICY, 0, 0.5)


def test_retry_delay_honours_retry_after_exactly_and_falls_back_to_backoff() -> None:
    """A Retry-After is used as is (never shortened); without one the jittered backoff applies."""
    assert retry_delay(POLICY, 1, 2.0, 0.0) == 2.0
    assert retry_delay(POLICY, 4, 0.0, 0.9) == 0.0
    assert retry_delay(POLICY, 3, None, 0.5) == 3.0
