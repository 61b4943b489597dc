"""Parsing delivery bodies, with no I/O.

A delivery body is ``{"events": [...]}``; an empty list is a heartbeat. Invariants:

* Parsing happens only after the signature was verified over the same bytes.
* One odd event never sinks a batch: an item that is not an object, or that fails model validation,
  is kept in :attr:`Delivery.unparsed` rather than dropped or raised.
* Only a body that is not a UTF-8 JSON object with an ``events`` list raises
  :class:`~asana_hooks.errors.MalformedPayload` (``NaN``/``Infinity`` included, which Asana never
  sends).
* :func:`event_fingerprint` is a stable key for an event (Asana events carry no id): SHA-256 of its
  canonical JSON, so key order and whitespace in the body do not matter.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, NoReturn

from pydantic import ValidationError

from asana_hooks.errors import MalformedPayload, PayloadTooLarge
from asana_hooks.models import Event

__all__ = ["Delivery", "check_body_size", "event_fingerprint", "parse_delivery"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """One verified delivery.

    Attributes:
        events: The events that validated as :class:`~asana_hooks.models.Event`; ``event.raw``
            keeps each one's exact keys.
        unparsed: Items of ``events`` that did not validate (odd shapes Asana may send one day),
            as decoded.
        body: The raw body as received and signed; not shown in ``repr``. When the receiver drops
            redelivered events, ``events`` is the remainder while ``body`` is still the whole batch.
    """

    events: list[Event] = field(default_factory=list)
    unparsed: list[Any] = field(default_factory=list)
    body: bytes = field(default=b"", repr=False)

    @property
    def is_heartbeat(self) -> bool:
        """Whether the delivery carries nothing at all (``{"events": []}``)."""
        return not self.events and not self.unparsed


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"non-finite number {name} in JSON")


def parse_delivery(body: bytes) -> Delivery:
    """Decode a delivery body.

    Args:
        body: The raw body bytes (already verified).

    Returns:
        The delivery, with every event either parsed or kept in ``unparsed``.

    Raises:
        MalformedPayload: Not UTF-8, not JSON, not an object, or ``events`` missing or not a list.
    """
    try:
        decoded = json.loads(bytes(body).decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError, TypeError):
        raise MalformedPayload("the delivery body is not UTF-8 JSON") from None
    if not isinstance(decoded, dict):
        raise MalformedPayload("the delivery body is not a JSON object")
    items = decoded.get("events")
    if not isinstance(items, list):
        raise MalformedPayload('the delivery body has no "events" list')
    events: list[Event] = []
    unparsed: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            unparsed.append(item)
            continue
        try:
            events.append(Event.from_raw(item))
        except ValidationError:
            unparsed.append(item)
    return Delivery(events=events, unparsed=unparsed, body=bytes(body))


def check_body_size(content_length: int | None, limit: int) -> None:
    """Refuse a declared body size above ``limit`` before reading it.

    Args:
        content_length: The ``Content-Length`` of the request, None when absent (chunked).
        limit: The largest body accepted, in bytes.

    Raises:
        PayloadTooLarge: ``content_length`` exceeds ``limit``.
    """
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(f"the body of {content_length} bytes exceeds the limit of {limit} bytes")


def event_fingerprint(raw_event: Any) -> str:
    """A stable key for one decoded event (or any decoded JSON value).

    Args:
        raw_event: The event as decoded from the body, e.g. ``event.raw``.

    Returns:
        Hex SHA-256 of the canonical JSON: sorted keys, compact separators, ASCII escapes.
    """
    canonical = json.dumps(raw_event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
