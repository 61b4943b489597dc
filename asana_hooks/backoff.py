"""When to retry a request to Asana, and how long to wait first (sans-I/O: no clock, no sleeping).

The rules, from Asana's rate-limit documentation and the safety of HTTP methods:

* ``429`` means Asana refused the request without acting on it, so it is safe to re-send for every
  method, writes included. Its ``Retry-After`` (seconds) is honoured; when it is absent or cannot be
  read, the wait falls back to capped exponential backoff with jitter. A ``Retry-After`` longer than
  :attr:`RetryPolicy.max_retry_after` is not slept through: the caller gives up at once.
* ``500``/``502``/``503``/``504`` and connection failures may hide a write that took effect, so they are
  retried only for safe methods (``GET``).
* Every other status is final.

Randomness is an argument (a value in ``[0, 1)``), so the functions are deterministic under test.
"""

from __future__ import annotations

import math
import re

from asana_hooks.config import RetryPolicy

__all__ = [
    "RETRYABLE_SERVER_STATUSES",
    "SAFE_METHODS",
    "backoff_delay",
    "is_retryable",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

#: Methods without side effects: re-sending them after an ambiguous failure cannot duplicate a write.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Server failures worth another try on a safe method.
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})

_TOO_MANY_REQUESTS = 429

# RFC 9110 delay-seconds is digits only; a fraction is tolerated. Rejects "1e3", "+2", "1_0", "nan".
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")

# 2**64 seconds is far beyond any cap: bounding the exponent keeps the float arithmetic finite.
_MAX_EXPONENT = 64


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds.

    HTTP-dates are not accepted (that would need the current time, and Asana sends seconds).

    Args:
        value: The header value, or None when the header is absent.

    Returns:
        The delay in seconds (finite, >= 0), or None when the header is absent or unreadable
        (``"soon"``, negative, ``NaN``, infinite, empty).
    """
    if value is None:
        return None
    text = value.strip()
    if not _SECONDS.fullmatch(text):
        return None
    seconds = float(text)
    # A huge digit string parses to inf: unusable as a delay.
    return seconds if math.isfinite(seconds) else None


def is_retryable(method: str, *, status: int | None = None, connection_error: bool = False) -> bool:
    """Whether an outcome may be retried at all for this method, ignoring attempt counts.

    Args:
        method: The HTTP method (any case).
        status: The response status, when a response arrived.
        connection_error: True when the exchange failed without a response (refused, reset, timeout).

    Returns:
        True for 429 on any method; for 5xx in :data:`RETRYABLE_SERVER_STATUSES` and connection
        errors only on safe methods; False otherwise.
    """
    if status == _TOO_MANY_REQUESTS:
        return True
    safe = method.upper() in SAFE_METHODS
    if connection_error:
        return safe
    return safe and status in RETRYABLE_SERVER_STATUSES


def should_retry(
    policy: RetryPolicy,
    method: str,
    attempt: int,
    *,
    status: int | None = None,
    connection_error: bool = False,
    retry_after: float | None = None,
) -> bool:
    """Whether to send the request again after attempt number ``attempt`` (1 for the first) failed.

    Args:
        policy: The retry policy.
        method: The HTTP method.
        attempt: The number of the attempt that just failed, starting at 1.
        status: The response status, when a response arrived.
        connection_error: True when no response arrived.
        retry_after: The parsed ``Retry-After`` of a 429, if any.

    Returns:
        False when the attempts are used up, when the outcome is not retryable for the method, or
        when Asana asks for a longer wait than ``policy.max_retry_after``; True otherwise.
    """
    if attempt >= policy.max_attempts:
        return False
    if not is_retryable(method, status=status, connection_error=connection_error):
        return False
    return retry_after is None or retry_after <= policy.max_retry_after


def backoff_delay(policy: RetryPolicy, attempt: int, random_value: float) -> float:
    """Capped exponential backoff with "equal" jitter: never 0, never NaN.

    The ceiling is ``backoff_base * 2 ** (attempt - 1)`` capped at ``backoff_cap``; the delay is drawn
    from ``[ceiling / 2, ceiling)`` so that concurrent clients spread out but none retries at once.

    Args:
        policy: The retry policy (its base and cap are positive, see :class:`RetryPolicy`).
        attempt: The number of the attempt that just failed, starting at 1.
        random_value: A value in ``[0, 1)``, e.g. ``random.random()``.

    Returns:
        The delay in seconds.

    Raises:
        ValueError: When ``random_value`` is outside ``[0, 1)`` or ``attempt`` is below 1.
    """
    if not 0.0 <= random_value < 1.0:  # also refuses NaN
        raise ValueError("random_value must be within [0, 1)")
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    exponent = min(attempt - 1, _MAX_EXPONENT)
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2.0**exponent)
    half = ceiling / 2.0
    return half + half * random_value


def retry_delay(policy: RetryPolicy, attempt: int, retry_after: float | None, random_value: float) -> float:
    """How long to wait before the next attempt.

    Args:
        policy: The retry policy.
        attempt: The number of the attempt that just failed, starting at 1.
        retry_after: The parsed ``Retry-After`` (see :func:`parse_retry_after`), or None.
        random_value: A value in ``[0, 1)``, used only when there is no ``Retry-After``.

    Returns:
        ``retry_after`` exactly when Asana sent one (callers check it against
        ``policy.max_retry_after`` through :func:`should_retry` first), else :func:`backoff_delay`.
    """
    if retry_after is not None:
        return retry_after
    return backoff_delay(policy, attempt, random_value)
