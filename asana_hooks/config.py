"""Frozen, keyword-only configuration values. Pydantic is for untrusted wire data; these are ours."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_BASE_URL", "ClientConfig", "RetryPolicy"]

#: Asana's REST API root.
DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How the client retries refused or failed requests.

    A 429 is always safe to retry (Asana refused the request). 5xx answers and connection errors are
    retried only for safe (read) methods, since a write may have taken effect.

    Attributes:
        max_attempts: Attempts in all, the first included; then the last error is raised.
        backoff_base: First backoff, in seconds, when Asana sends no usable ``Retry-After``.
        backoff_cap: Largest single backoff, in seconds.
        max_retry_after: Longest ``Retry-After`` honoured, in seconds; a longer one is raised at once
            as ``RateLimited`` rather than slept through.
    """

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base <= 0 or self.backoff_cap < self.backoff_base:
            raise ValueError("need 0 < backoff_base <= backoff_cap")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must not be negative")


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientConfig:
    """Settings of :class:`asana_hooks.AsanaClient`.

    Attributes:
        base_url: API root, e.g. the emulator's ``http://127.0.0.1:PORT/api/1.0``.
        timeout: Whole-request timeout in seconds. A create waits for Asana's handshake round trip,
            so keep it well above Asana's 10-second handshake budget.
        connect_timeout: Connection timeout in seconds.
        max_concurrent_writes: In-flight POST/PUT/DELETE cap (Asana allows 15 per token).
        max_concurrent_reads: In-flight GET cap (Asana allows 50 per token).
        retry: Retry and backoff policy.
    """

    base_url: str = DEFAULT_BASE_URL
    timeout: float = 60.0
    connect_timeout: float = 10.0
    max_concurrent_writes: int = 15
    max_concurrent_reads: int = 50
    retry: RetryPolicy = RetryPolicy()

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if not 1 <= self.max_concurrent_writes <= 15:
            raise ValueError("max_concurrent_writes must be within 1..15 (Asana's limit)")
        if not 1 <= self.max_concurrent_reads <= 50:
            raise ValueError("max_concurrent_reads must be within 1..50 (Asana's limit)")
