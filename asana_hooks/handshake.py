"""The handshake rules and the secret store contract, with no I/O.

Nothing in Asana's handshake names the webhook, so every create gets its own unguessable path token
in the target URL, and the token is the correlation key. Invariants, applied by
:func:`decide_capture` inside every store's lock or transaction:

* A handshake is accepted only while a create for its token is pending and unexpired, and only
  once: the first secret is stored (:attr:`CaptureOutcome.ACCEPTED`); the same secret again while
  still pending is answered idempotently (:attr:`CaptureOutcome.REPEATED`); anything else, a
  different secret, an expired or cleared create, a token that already belongs to an established
  webhook, is refused and changes nothing (:attr:`CaptureOutcome.REFUSED`).
* A store writes the record durably *before* ``capture_handshake`` returns ACCEPTED, so the
  secret survives a crash right after the 200 goes out and verifies the first heartbeat, which may
  arrive before the create call returns.
* Secrets never appear in reprs (``SubscriptionRecord.secret`` is ``repr=False``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Any, Protocol, Self

__all__ = [
    "CaptureOutcome",
    "PendingCreate",
    "SecretStore",
    "SubscriptionRecord",
    "decide_capture",
    "is_acceptable_secret",
    "new_path_token",
    "record_from_capture",
]

#: Longest handshake secret accepted (Asana's are 32 or 64 hex characters).
MAX_SECRET_LENGTH = 512


def new_path_token() -> str:
    """A fresh path token: 192 random bits from the OS CSPRNG, URL-safe base64 (32 characters)."""
    return secrets.token_urlsafe(24)


def _filters_tuple(filters: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(dict(f) for f in filters)


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingCreate:
    """A create in flight: the only state in which a handshake for ``token`` is accepted.

    Attributes:
        token: The path token in the create's target URL.
        resource_gid: The gid of the watched resource.
        target: The full target URL sent to Asana.
        filters: The filters sent with the create, as JSON objects; stored as a tuple of copies.
        expires_at: Time (same clock as the ``now`` passed to stores) after which the handshake
            is refused.
    """

    token: str = field(repr=False)
    resource_gid: str
    target: str = field(repr=False)
    filters: Sequence[dict[str, Any]] = ()
    expires_at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", _filters_tuple(self.filters))


@dataclass(frozen=True, kw_only=True, slots=True)
class SubscriptionRecord:
    """What a store keeps per path token once a handshake was accepted.

    Attributes:
        token: The path token.
        secret: The secret from the handshake; never shown in ``repr``.
        resource_gid: The gid of the watched resource.
        target: The target URL.
        filters: The filters of the create (a tuple of copies).
        webhook_gid: The webhook's gid once the create returned, None until then.
        created_at: When the handshake was captured.
        last_seen_at: When the last verified delivery (heartbeat included) arrived, if any.
    """

    token: str = field(repr=False)
    secret: str = field(repr=False)
    resource_gid: str
    target: str = field(repr=False)
    filters: Sequence[dict[str, Any]] = ()
    webhook_gid: str | None = None
    created_at: float
    last_seen_at: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", _filters_tuple(self.filters))


class CaptureOutcome(Enum):
    """What a store did with a handshake."""

    #: First handshake for a pending token: the record was stored; answer with the echo.
    ACCEPTED = "accepted"
    #: The same secret again while still pending: nothing changed; answer with the echo again.
    REPEATED = "repeated"
    #: No pending create, expired, a different secret, or an established webhook: answer 4xx.
    REFUSED = "refused"


def is_acceptable_secret(secret: str) -> bool:
    """Whether ``secret`` can be a handshake secret: 1..512 visible ASCII characters.

    Anything else could not be echoed byte for byte in a header, so it is refused outright.
    """
    return (
        isinstance(secret, str)
        and 0 < len(secret) <= MAX_SECRET_LENGTH
        and secret.isascii()
        and all(0x21 <= ord(c) <= 0x7E for c in secret)
    )


def decide_capture(
    pending: PendingCreate | None,
    existing: SubscriptionRecord | None,
    secret: str,
    now: float,
) -> CaptureOutcome:
    """The capture rule every store applies atomically.

    Args:
        pending: The pending create for the token, if any.
        existing: The record already stored for the token, if any.
        secret: The ``X-Hook-Secret`` of the handshake.
        now: The current time, on the clock of ``pending.expires_at``.

    Returns:
        ACCEPTED when the store must write the record; REPEATED or REFUSED when it must change
        nothing.
    """
    if not is_acceptable_secret(secret) or pending is None or now >= pending.expires_at:
        return CaptureOutcome.REFUSED
    if existing is None:
        return CaptureOutcome.ACCEPTED
    if existing.webhook_gid is not None:
        return CaptureOutcome.REFUSED
    same = hmac.compare_digest(existing.secret.encode("utf-8"), secret.encode("utf-8"))
    return CaptureOutcome.REPEATED if same else CaptureOutcome.REFUSED


def record_from_capture(pending: PendingCreate, secret: str, now: float) -> SubscriptionRecord:
    """The record a store writes on ACCEPTED: no webhook gid yet, created now."""
    return SubscriptionRecord(
        token=pending.token,
        secret=secret,
        resource_gid=pending.resource_gid,
        target=pending.target,
        filters=pending.filters,
        webhook_gid=None,
        created_at=now,
        last_seen_at=None,
    )


class SecretStore(Protocol):
    """Where pending creates and captured secrets live. Implementations: ``asana_hooks.stores``.

    Every method may raise :class:`~asana_hooks.errors.StoreError` when the backend fails.
    """

    async def add_pending(self, pending: PendingCreate) -> None:
        """Arm the handshake for ``pending.token``.

        Raises:
            InvalidRequestError: The token is already pending or has a record.
        """
        ...

    async def capture_handshake(self, token: str, secret: str, now: float) -> CaptureOutcome:
        """Apply :func:`decide_capture` atomically; on ACCEPTED the record is durable on return."""
        ...

    async def clear_pending(self, token: str) -> None:
        """Disarm the handshake for ``token``; a captured record stays."""
        ...

    async def get(self, token: str) -> SubscriptionRecord | None:
        """The record for ``token``, or None."""
        ...

    async def find_by_webhook(self, webhook_gid: str) -> SubscriptionRecord | None:
        """The record attached to ``webhook_gid``, or None."""
        ...

    async def list_records(self) -> list[SubscriptionRecord]:
        """Every record, oldest first."""
        ...

    async def attach_webhook(self, token: str, webhook_gid: str) -> None:
        """Set the record's webhook gid once the create returned.

        Raises:
            StoreError: No record for ``token``.
        """
        ...

    async def touch(self, token: str, now: float) -> None:
        """Note a verified delivery at ``now``; no-op without a record."""
        ...

    async def delete(self, token: str) -> None:
        """Forget the record and any pending create for ``token``; no-op when absent."""
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
