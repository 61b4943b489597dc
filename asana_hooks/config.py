"""Frozen, keyword-only configuration values. Pydantic is for untrusted wire data; these are ours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = ["AckMode", "ClientConfig", "DEFAULT_BASE_URL", "InboxConfig", "ReceiverConfig", "RetryPolicy"]

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


class AckMode(StrEnum):
    """When the receiver acknowledges a verified delivery that carries events.

    Attributes:
        INLINE: Run the handler, then answer: 200 when it returned, 500 when it raised, so Asana
            retries and nothing is lost. The safe default; handlers must finish well within Asana's
            10-second window or Asana retries a batch that was in fact handled.
        BACKGROUND: Answer 200 right after verification and run the handler in the receiver's
            task group. Fast acknowledgement at the price of losing a batch whose handler fails
            (Asana never resends an acknowledged delivery).
        DURABLE: Persist the verified batch to the receiver's inbox, then answer 200 (503 when the
            inbox fails, so Asana resends). Workers process persisted batches at least once, with
            retries, a dead-letter record and duplicate suppression; see :class:`InboxConfig`.
            Nothing acknowledged is lost, even to a kill -9 between the 200 and the handler.
    """

    INLINE = "inline"
    BACKGROUND = "background"
    DURABLE = "durable"


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxConfig:
    """How the workers of a durable receiver (``AckMode.DURABLE``) process the inbox.

    Attributes:
        workers: Concurrent workers in this process; 0 makes an ingest-only replica that persists
            batches for other processes to handle.
        max_attempts: Handler attempts per batch, the first included; then it becomes a dead letter.
        backoff_base: Wait after the first failure, in seconds; doubles per failure.
        backoff_cap: Longest wait between attempts, in seconds.
        lease: Seconds a claimed batch stays invisible to other workers; renewed every third of it
            while its handler runs, so only a dead worker's batches are taken over.
        poll_interval: Seconds an idle worker waits before looking again (batches persisted in this
            process wake the workers at once; this bounds the delay for other replicas' batches and
            retries coming due).
    """

    workers: int = 4
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    lease: float = 60.0
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError("workers must not be negative")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base <= 0 or self.backoff_cap < self.backoff_base:
            raise ValueError("need 0 < backoff_base <= backoff_cap")
        if self.lease <= 0 or self.poll_interval <= 0:
            raise ValueError("lease and poll_interval must be positive")


# Path characters that need no escaping and mean nothing to aiohttp's route syntax.
_PATH_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiverConfig:
    """Settings of :class:`asana_hooks.receiver.Receiver`.

    Attributes:
        host: Interface the standalone server binds.
        port: Port the standalone server binds; 0 picks a free one (read it back from ``base_url``).
        public_url: Base URL Asana calls, e.g. ``https://hooks.example.test/myservice`` when the
            receiver sits behind a proxy or is mounted under a prefix; targets are
            ``public_url + path_prefix + "/h/" + token``. None: the bound ``base_url``.
        path_prefix: Route prefix inside the receiver's app; starts with ``/``, no trailing ``/``.
        max_body_size: Largest delivery body accepted, in bytes; larger ones get 413 before any
            HMAC work. Busy projects send batches of several MiB, hence the generous 32 MiB.
        ack_mode: When a delivery with events is acknowledged; see :class:`AckMode`.
        dedupe_window: Seconds during which an event already handled for the same path token is
            dropped from a redelivered batch (Asana events carry no id). None disables dedupe.
        dedupe_max_entries: Most event fingerprints remembered at once (oldest forgotten first).
        handshake_ttl: Seconds a pending create accepts its handshake; used by whoever registers
            the pending create.
        serve: Whether ``start()`` binds its own TCP site. False when ``receiver.app`` is mounted
            in your own aiohttp application, whose runner then serves it.
        shutdown_timeout: Seconds ``aclose()`` of a serving receiver waits for in-flight requests
            (background handlers included) before cancelling them.
        inbox: How durable-mode workers process the inbox; see :class:`InboxConfig`.
    """

    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    path_prefix: str = "/asana"
    max_body_size: int = 32 * 1024 * 1024
    ack_mode: AckMode = AckMode.INLINE
    dedupe_window: float | None = 900.0
    dedupe_max_entries: int = 50_000
    handshake_ttl: float = 60.0
    serve: bool = True
    shutdown_timeout: float = 10.0
    inbox: InboxConfig = InboxConfig()

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be within 0..65535")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("public_url must be an http:// or https:// URL with a host")
            if parts.query or parts.fragment or parts.username or parts.password:
                raise ValueError("public_url must not carry credentials, a query or a fragment")
        if not _PATH_PREFIX.fullmatch(self.path_prefix):
            raise ValueError(
                "path_prefix must start with '/', not end with '/', and use only letters, digits and . _ ~ -"
            )
        if self.max_body_size < 1:
            raise ValueError("max_body_size must be positive")
        try:
            # Normalised, so that "durable" read from a config file means AckMode.DURABLE.
            object.__setattr__(self, "ack_mode", AckMode(self.ack_mode))
        except ValueError:
            raise ValueError("ack_mode must be an AckMode (inline, background or durable)") from None
        if self.dedupe_window is not None and self.dedupe_window <= 0:
            raise ValueError("dedupe_window must be positive, or None to disable dedupe")
        if self.dedupe_max_entries < 1:
            raise ValueError("dedupe_max_entries must be positive")
        if self.handshake_ttl <= 0:
            raise ValueError("handshake_ttl must be positive")
        if self.shutdown_timeout <= 0:
            raise ValueError("shutdown_timeout must be positive")
