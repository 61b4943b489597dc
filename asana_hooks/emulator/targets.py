"""Which webhook targets the emulator accepts, like Asana's create call.

Asana refuses "invalid hostnames like localhost" with 403. Strict mode does the same for
``localhost``, ``*.localhost`` and literal loopback, private, link-local, reserved or unspecified IP
addresses; the permissive default lets loopback through, since a local emulator's receiver lives
there. Names are never resolved (no DNS, no blocking I/O). Anything that is not an absolute
``http``/``https`` URL with a host is refused in both modes.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from asana_hooks.emulator.replies import ApiError

__all__ = ["check_target"]


def check_target(target: str, *, strict: bool) -> None:
    """Raise a 403 `ApiError` naming the target when Asana (or strict mode) would refuse it."""
    refusal = ApiError(403, f"Invalid webhook target: {target}")
    try:
        parts = urlsplit(target)
        host = parts.hostname
        parts.port  # noqa: B018 - reading it validates the port (ValueError when out of range).
    except ValueError:
        raise refusal from None
    if parts.scheme not in ("http", "https") or not host:
        raise refusal
    if strict and _is_private(host):
        raise refusal


def _is_private(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
        or address.is_multicast
    )
