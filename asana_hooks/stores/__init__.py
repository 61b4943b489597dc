"""Secret stores: where pending creates and captured webhook secrets live.

Each store implements :class:`asana_hooks.handshake.SecretStore`. Pick one with :func:`open_store`:

* ``memory:`` — :class:`MemoryStore`, lost on restart (tests, throwaway runs).
* ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db`` — :class:`SQLiteStore`, the
  durable default.
* ``redis://[user:password@]host:port/db[?namespace=NAME]`` (or ``rediss://``) —
  :class:`RedisStore`, shared by receiver replicas (needs the ``redis`` extra).

Durable-mode inboxes (:class:`asana_hooks.inbox.Inbox`) live here too: :class:`SQLiteInbox` and
:class:`RedisInbox`, chosen with :func:`open_inbox`.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from asana_hooks.errors import InvalidRequestError
from asana_hooks.handshake import SecretStore
from asana_hooks.inbox import Inbox
from asana_hooks.stores.memory import MemoryStore
from asana_hooks.stores.sqlite import SQLiteStore
from asana_hooks.stores.sqlite_inbox import SQLiteInbox

if TYPE_CHECKING:
    from asana_hooks.stores.redis import RedisStore
    from asana_hooks.stores.redis_inbox import RedisInbox

__all__ = [
    "MemoryStore",
    "RedisInbox",
    "RedisStore",
    "SQLiteInbox",
    "SQLiteStore",
    "open_inbox",
    "open_store",
]


def __getattr__(name: str) -> object:
    # The Redis classes import redis-py, an optional extra: load them only when asked for.
    if name in ("RedisStore", "RedisInbox"):
        from asana_hooks.stores import redis as redis_store
        from asana_hooks.stores import redis_inbox

        return redis_store.RedisStore if name == "RedisStore" else redis_inbox.RedisInbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _require_redis() -> None:
    """Refuse a redis:// URL clearly when the optional redis-py package is not installed."""
    if importlib.util.find_spec("redis") is None:
        raise InvalidRequestError("redis:// needs the redis extra: pip install 'asana-hooks[redis]'")


def _redis_parts(parts: SplitResult) -> tuple[str, str | None]:
    """The URL for redis-py without our ``namespace`` option, and that option."""
    options = parse_qsl(parts.query, keep_blank_values=True)
    namespaces = [value for key, value in options if key == "namespace"]
    if len(namespaces) > 1:
        raise InvalidRequestError("a Redis URL takes one namespace option")
    rest = urlencode([(key, value) for key, value in options if key != "namespace"])
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
    return url, (namespaces[0] if namespaces else None)


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port, which urlsplit parses lazily
    except (TypeError, ValueError):
        raise InvalidRequestError("the store URL could not be parsed") from None
    return parts


def open_store(url: str) -> SecretStore:
    """Build the store a URL names (it opens on first use or on ``async with``).

    Args:
        url: ``memory:``, ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db`` or
            ``redis://[user:password@]host:port/db[?namespace=NAME]``.

    Returns:
        The store, not yet opened.

    Raises:
        InvalidRequestError: An unknown scheme, or a malformed SQLite URL. Messages name the scheme
            only, never the rest of the URL (which may carry credentials).
    """
    parts = _split(url)
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
        _require_redis()
        from asana_hooks.stores.redis import DEFAULT_NAMESPACE, RedisStore

        redis_url, namespace = _redis_parts(parts)
        return RedisStore(redis_url, namespace=DEFAULT_NAMESPACE if namespace is None else namespace)
    # Name the scheme only in its unmistakable form: in "user:password@host" the "scheme" is a user.
    if not scheme:
        named = "a URL without a scheme"
    elif url[: len(scheme) + 3].lower() == f"{scheme}://":
        named = f"scheme {scheme!r}"
    else:
        named = "an unknown scheme"
    raise InvalidRequestError(
        f"no secret store for {named}; use memory:, sqlite:///path.db or redis://host/0"
    )


def open_inbox(url: str) -> Inbox:
    """Build the durable-mode inbox a URL names (it opens on first use or on ``async with``).

    Args:
        url: ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db`` or
            ``redis://[user:password@]host:port/db[?namespace=NAME]``.

    Raises:
        InvalidRequestError: Another scheme or a malformed URL (messages never echo the URL).
    """
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc or parts.query or parts.fragment or not parts.path or parts.path.endswith("/"):
            raise InvalidRequestError("a sqlite inbox URL is sqlite:///absolute/path.db or sqlite:path.db")
        return SQLiteInbox(parts.path)
    if scheme in ("redis", "rediss"):
        _require_redis()
        from asana_hooks.stores.redis import DEFAULT_NAMESPACE
        from asana_hooks.stores.redis_inbox import RedisInbox

        redis_url, namespace = _redis_parts(parts)
        return RedisInbox(redis_url, namespace=DEFAULT_NAMESPACE if namespace is None else namespace)
    raise InvalidRequestError("an inbox URL is sqlite:///path.db or redis://host:port/db")
