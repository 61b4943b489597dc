"""Signing and verifying Asana deliveries, with no I/O.

Asana signs every delivery with ``X-Hook-Signature``: the lowercase hex HMAC-SHA256 of the raw body
bytes, keyed by the secret captured at the handshake (UTF-8). Invariants of :func:`verify_signature`:

* It fails closed: no secret, an empty secret, a missing, repeated, non-ASCII or malformed header all
  raise :class:`~asana_hooks.errors.SignatureInvalid`; nothing ever counts as "nothing to check".
* Only 64 *lowercase* hex characters are a well-formed signature (what Asana sends); uppercase hex,
  base64, surrounding spaces and every other shape are refused before comparing.
* The comparison is :func:`hmac.compare_digest` over two ASCII byte strings of equal length.
* :class:`~asana_hooks.errors.SignatureInvalid` is the only exception it raises, whatever the input,
  and its message never contains the secret, the signature or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from asana_hooks.errors import SignatureInvalid

__all__ = ["SIGNATURE_HEADER", "HeaderSource", "sign", "verify_signature"]

#: The delivery header that carries the signature.
SIGNATURE_HEADER = "X-Hook-Signature"

#: Headers as frameworks hand them over: a mapping (plain dicts are matched case-insensitively; a
#: multidict's repeated headers are all seen) or an iterable of ``(name, value)`` pairs.
HeaderSource = Mapping[str, Any] | Iterable[tuple[Any, Any]]

_LOWER_HEX_64 = re.compile(rb"[0-9a-f]{64}")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hook-Signature`` Asana would send for ``body`` under ``secret``.

    Args:
        secret: The webhook's secret, used as the HMAC key in UTF-8.
        body: The exact body bytes.

    Returns:
        The lowercase hex HMAC-SHA256 digest (64 characters).
    """
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | None, body: bytes | bytearray | memoryview, headers: HeaderSource) -> None:
    """Check a delivery's ``X-Hook-Signature`` against its raw body.

    Args:
        secret: The stored secret for the webhook; None or ``""`` refuses every delivery.
        body: The body exactly as received, before any parsing.
        headers: The request headers (mapping, multidict, or ``(name, value)`` pairs).

    Raises:
        SignatureInvalid: No usable secret; the header is missing, repeated, not ASCII, not 64
            lowercase hex characters; or the signature does not match.
    """
    if not isinstance(secret, str) or not secret:
        raise SignatureInvalid("no secret is held for this webhook; deliveries cannot be trusted")
    if not isinstance(body, bytes | bytearray | memoryview):
        raise SignatureInvalid("the body to verify must be the raw bytes as received")
    given = _single_ascii_header(headers)
    if not _LOWER_HEX_64.fullmatch(given):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is not 64 lowercase hex characters")
    try:
        key = secret.encode("utf-8")
    except UnicodeEncodeError:
        raise SignatureInvalid("the stored secret cannot be used as a key") from None
    expected = hmac.new(key, bytes(body), hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, given):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")


def _single_ascii_header(headers: HeaderSource) -> bytes:
    """The one signature header value as ASCII bytes, or SignatureInvalid."""
    wanted = SIGNATURE_HEADER.lower()
    values: list[Any] = []
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        # aiohttp's request headers: a case-insensitive lookup instead of a walk over every header.
        values = headers.getall(SIGNATURE_HEADER, [])
        return _one_ascii_value(values)
    try:
        pairs: Iterable[tuple[Any, Any]] = (
            headers.items() if isinstance(headers, Mapping) else headers  # multidict.items() repeats
        )
        for name, value in pairs:
            if _header_name(name) == wanted:
                values.append(value)
    except (TypeError, ValueError):
        raise SignatureInvalid("the request headers could not be read") from None
    return _one_ascii_value(values)


def _one_ascii_value(values: list[Any]) -> bytes:
    if not values:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is missing")
    if len(values) > 1:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is present more than once")
    value = values[0]
    try:
        if isinstance(value, str):
            return value.encode("ascii")
        if isinstance(value, bytes | bytearray):
            bytes(value).decode("ascii")
            return bytes(value)
    except UnicodeError:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is not ASCII") from None
    raise SignatureInvalid(f"{SIGNATURE_HEADER} is not text")


def _header_name(name: Any) -> str | None:
    if isinstance(name, str):
        return name.lower()
    if isinstance(name, bytes | bytearray):
        return bytes(name).decode("latin-1").lower()
    return None
