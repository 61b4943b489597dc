"""Secret stores: where pending creates and captured webhook secrets live.

Each store implements :class:`asana_hooks.handshake.SecretStore`. Pick one with :func:`open_store`:

* ``memory:`` — :class:`MemoryStore`, lost on restart (tests, throwaway runs).
* ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db`` — :class:`SQLiteStore`, the
  durable default.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from asana_hooks.errors import InvalidRequestError
from asana_hooks.handshake import SecretStore
from asana_hooks.stores.memory import MemoryStore
from asana_hooks.stores.sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "open_store"]


def open_store(url: str) -> SecretStore:
    """Build the store a URL names (it opens on first use or on ``async with``).

    Args:
        url: ``memory:``, ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db``.

    Returns:
        The store, not yet opened.

    Raises:
        InvalidRequestError: An unknown scheme, or a malformed SQLite URL. Messages name the scheme
            only, never the rest of the URL (which may carry credentials).
    """
    try:
        parts = urlsplit(url)
    except (TypeError, ValueError):
        raise InvalidRequestError("the store URL could not be parsed") from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        if parts.netloc or parts.path or parts.query:
            raise InvalidRequestError("a memory store URL is just 'memory:'")
        return MemoryStore()
    if scheme == "sqlite":
        if parts.netloc:
            raise InvalidRequestError(
                "a sqlite store URL takes no host: use sqlite:///absolute/path.db or sqlite:relative/path.db"
            )
        if parts.query or parts.fragment:
            raise InvalidRequestError("a sqlite store URL takes no query or fragment")
        if not parts.path or parts.path.endswith("/"):
            raise InvalidRequestError("a sqlite store URL needs a file path")
        return SQLiteStore(parts.path)
    if scheme in ("redis", "rediss"):
        raise InvalidRequestError(
            f"{scheme}:// stores are not available in this version; use sqlite:///path.db or memory:"
        )
    # Name the scheme only in its unmistakable form: in "user:password@host" the "scheme" is a user.
    if not scheme:
        named = "a URL without a scheme"
    elif url[: len(scheme) + 3].lower() == f"{scheme}://":
        named = f"scheme {scheme!r}"
    else:
        named = "an unknown scheme"
    raise InvalidRequestError(f"no secret store for {named}; use memory: or sqlite:///path.db")
