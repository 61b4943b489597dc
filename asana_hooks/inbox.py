"""The durable inbox: its contract and its decisions, with no I/O.

In ``AckMode.DURABLE`` the receiver persists each verified batch to an :class:`Inbox` before it
answers 200, and workers process the persisted batches at least once. The rules every inbox and
worker follow, decided here so that the SQLite and Redis Streams adapters cannot disagree:

* Duplicate suppression (:func:`fresh_fingerprints`): Asana events carry no id and a late ack makes
  Asana resend the same batch, so each event is keyed by ``(path token, event_fingerprint)``. An
  event seen within the window is dropped from a new batch, and so is an event repeated inside one
  batch. A batch is marked seen *in the same transaction* that persists it: persisted means it will
  be handled, and nothing marked seen can be lost.
* Retries (:func:`next_attempt_at`): a handler failure is retried after capped exponential backoff
  with jitter; after ``max_attempts`` failures the batch becomes a :class:`DeadLetter`, kept for
  inspection rather than dropped.
* Claims are leases: a claimed batch is invisible to other workers for ``lease`` seconds, renewed
  while its handler runs, so a dead worker's batch is taken over and a live one's is not. A worker
  that dies mid-handler therefore causes a second attempt: handlers must tolerate at-least-once.
* An entry keeps the exact signed body and the fingerprints of its fresh events
  (:func:`select_fresh` rebuilds the delivery from them), never the webhook's secret.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Protocol, Self

from asana_hooks.backoff import backoff_delay
from asana_hooks.config import InboxConfig, RetryPolicy
from asana_hooks.deliveries import Delivery, event_fingerprint

__all__ = [
    "DeadLetter",
    "Inbox",
    "InboxEntry",
    "delivery_fingerprints",
    "describe_error",
    "fresh_fingerprints",
    "next_attempt_at",
    "seen_key",
    "select_fresh",
]

#: Longest error text kept with an entry.
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxEntry:
    """One persisted batch, as a worker claims it.

    Attributes:
        entry_id: Stable id of the batch, the same across retries.
        receipt: The adapter's handle on this claim (row id, stream id); opaque to callers.
        token: The path token the batch arrived on.
        body: The verified body exactly as signed; not shown in ``repr``.
        fingerprints: Fingerprints of the events still to handle (duplicates dropped).
        received_at: When the batch was persisted.
        attempts: Handler failures so far.
        last_error: The last failure, if any.
    """

    entry_id: str
    receipt: str
    token: str
    body: bytes = field(repr=False)
    fingerprints: tuple[str, ...]
    received_at: float
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter:
    """A batch given up on after ``max_attempts`` failures (or whose webhook was forgotten).

    Attributes:
        entry_id: The batch's id.
        token: The path token it arrived on.
        body: The verified body; not shown in ``repr``.
        fingerprints: The events that were never handled.
        received_at: When it was persisted.
        attempts: Handler failures in all.
        failed_at: When it was given up on.
        last_error: Why.
    """

    entry_id: str
    token: str
    body: bytes = field(repr=False)
    fingerprints: tuple[str, ...]
    received_at: float
    attempts: int
    failed_at: float
    last_error: str


def seen_key(token: str, fingerprint: str) -> str:
    """The duplicate-suppression key of one event: fingerprints are per webhook path."""
    return f"{token}:{fingerprint}"


def delivery_fingerprints(delivery: Delivery) -> list[str]:
    """Fingerprints of every item of a delivery, parsed events first, then unparsed items."""
    return [event_fingerprint(event.raw) for event in delivery.events] + [
        event_fingerprint(item) for item in delivery.unparsed
    ]


def fresh_fingerprints(
    fingerprints: Sequence[str], seen_at: Mapping[str, float], now: float, window: float | None
) -> list[str]:
    """Which events of a new batch to persist.

    Args:
        fingerprints: The batch's fingerprints, in order.
        seen_at: When each already-seen fingerprint was last persisted (missing: never).
        now: The current time, on the clock of ``seen_at``.
        window: Seconds a persisted fingerprint suppresses its duplicates; None keeps everything.

    Returns:
        The fingerprints not seen within ``(now - window, now]``, in order, each once; with no
        window, all of them.
    """
    if window is None:
        return list(fingerprints)
    kept: list[str] = []
    in_batch: set[str] = set()
    for fingerprint in fingerprints:
        at = seen_at.get(fingerprint)
        if fingerprint in in_batch or (at is not None and at > now - window):
            continue
        in_batch.add(fingerprint)
        kept.append(fingerprint)
    return kept


def select_fresh(delivery: Delivery, fingerprints: Sequence[str]) -> Delivery:
    """The delivery reduced to the items ``fingerprints`` name (as many of each as listed).

    ``body`` stays the whole signed batch, as in the receiver's other modes.
    """
    wanted = Counter(fingerprints)

    def keep(raw: Any) -> bool:
        fingerprint = event_fingerprint(raw)
        if wanted[fingerprint] <= 0:
            return False
        wanted[fingerprint] -= 1
        return True

    events = [event for event in delivery.events if keep(event.raw)]
    unparsed = [item for item in delivery.unparsed if keep(item)]
    return replace(delivery, events=events, unparsed=unparsed)


def next_attempt_at(attempts: int, config: InboxConfig, now: float, random_value: float) -> float | None:
    """When to try a failed batch again, or None to make it a dead letter.

    Args:
        attempts: Failures so far, the one just seen included (1 after the first failure).
        config: The inbox settings (``max_attempts``, ``backoff_base``, ``backoff_cap``).
        now: The current time.
        random_value: A value in ``[0, 1)`` for jitter.

    Returns:
        ``now`` plus a delay in ``[ceiling / 2, ceiling)`` where the ceiling is
        ``backoff_base * 2 ** (attempts - 1)`` capped at ``backoff_cap``; None once ``attempts``
        reached ``max_attempts``.
    """
    if attempts >= config.max_attempts:
        return None
    policy = RetryPolicy(
        max_attempts=config.max_attempts, backoff_base=config.backoff_base, backoff_cap=config.backoff_cap
    )
    return now + backoff_delay(policy, attempts, random_value)


def describe_error(error: BaseException) -> str:
    """What an entry records about a handler failure: the type and message, bounded."""
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    return text[:MAX_ERROR_LENGTH]


class Inbox(Protocol):
    """Where a durable receiver persists verified batches. Implementations: ``asana_hooks.stores``.

    Every method may raise :class:`~asana_hooks.errors.StoreError` when the backend fails.
    """

    async def put(
        self, token: str, body: bytes, fingerprints: Sequence[str], now: float, window: float | None
    ) -> str | None:
        """Persist a verified batch, dropping events seen within ``window`` (see
        :func:`fresh_fingerprints`), and mark the kept ones seen, in one transaction.

        Returns:
            The new entry's id; None when every event was a duplicate (nothing was stored).
        """
        ...

    async def claim(self, consumer: str, now: float, lease: float) -> InboxEntry | None:
        """Lease the oldest batch that is due and not leased (or whose lease ran out), or None."""
        ...

    async def renew(self, entry: InboxEntry, now: float) -> None:
        """Extend the lease of a claimed batch whose handler is still running."""
        ...

    async def release(self, entry: InboxEntry) -> None:
        """Give a claimed batch back at once, unprocessed (shutdown); no attempt is counted."""
        ...

    async def complete(self, entry: InboxEntry) -> None:
        """Forget a handled batch."""
        ...

    async def retry(self, entry: InboxEntry, error: str, not_before: float) -> None:
        """Count a failure and make the batch claimable again from ``not_before``."""
        ...

    async def dead_letter(self, entry: InboxEntry, error: str, now: float) -> None:
        """Count a failure and move the batch to the dead letters."""
        ...

    async def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""
        ...

    async def backlog(self) -> int:
        """Batches waiting, leased or due for retry (dead letters not counted)."""
        ...

    async def aclose(self) -> None:
        """Release the backend; later calls raise StoreError."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
