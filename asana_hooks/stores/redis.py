"""A secret store in Redis, shared by every receiver replica behind a load balancer.

Asana's handshake for a create sent by replica A may land on replica B; with this store B finds
A's pending create, captures the secret, and A's create completes with it. Invariants:

* Keys live under one namespace: ``{ns}:pending:{token}`` (JSON, expiring), ``{ns}:record:{token}``
  (hash, never expiring), ``{ns}:webhook:{gid}`` (the token attached to a webhook), the sorted sets
  ``{ns}:records`` (tokens by creation time) and ``{ns}:pending-expiry`` (tokens by expiry).
* The capture rule is :func:`asana_hooks.handshake.decide_capture`, the same as every store's:
  ``capture_handshake`` WATCHes the pending and record keys, reads them, decides in Python, and
  writes in MULTI/EXEC, retrying (bounded) when another replica changed a watched key meanwhile.
  So of any number of racing handshakes for a token, across connections and replicas, exactly one
  is accepted.
* ``capture_handshake`` returns ACCEPTED only after EXEC returned: with ``appendonly yes`` and
  ``appendfsync always`` the secret is on disk before the receiver answers the handshake. Redis
  without persistence loses every secret on restart; configure it.
* A pending entry expires at its ``expires_at``. Redis's own expiry is garbage collection only,
  set as a relative TTL from the store's clock (so replica and Redis clocks need not agree); the
  rule itself compares ``expires_at`` with the ``now`` of each call, as in every store.
* Redis failures surface as :class:`~asana_hooks.errors.StoreError` naming the failure's type only;
  neither messages nor ``repr`` ever show the URL's credentials.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from asana_hooks.errors import InvalidRequestError, StoreError
from asana_hooks.handshake import (
    CaptureOutcome,
    PendingCreate,
    SubscriptionRecord,
    decide_capture,
    record_from_capture,
)

__all__ = ["DEFAULT_NAMESPACE", "RedisStore", "redacted_url"]

#: The key prefix unless another is given.
DEFAULT_NAMESPACE = "asana_hooks"

# Racing captures for one token settle in one or two rounds; this only bounds a pathological loop.
_MAX_CAPTURE_ROUNDS = 64

# Scripts for the plain bookkeeping (the capture rule itself stays in Python, see above).
_ADD_PENDING = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
_PURGE_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, token in ipairs(expired) do
  redis.call('DEL', ARGV[2] .. token)
  redis.call('ZREM', KEYS[1], token)
end
return #expired
"""
_ATTACH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local old = redis.call('HGET', KEYS[1], 'webhook_gid')
if old and old ~= ARGV[2] and redis.call('GET', ARGV[3] .. old) == ARGV[1] then
  redis.call('DEL', ARGV[3] .. old)
end
redis.call('HSET', KEYS[1], 'webhook_gid', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
end
return 0
"""
_DELETE = """
local gid = redis.call('HGET', KEYS[1], 'webhook_gid')
if gid and redis.call('GET', ARGV[2] .. gid) == ARGV[1] then
  redis.call('DEL', ARGV[2] .. gid)
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 0
"""


def redacted_url(url: str) -> str:
    """``scheme://host:port/db`` of a Redis URL: no user, password or query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "redis://?"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port or 6379}{parts.path or '/0'}"


def _float(text: str | None) -> float | None:
    return None if text is None or text == "" else float(text)


def _filters(text: str) -> tuple[dict[str, Any], ...]:
    decoded = json.loads(text)
    if not isinstance(decoded, list) or not all(isinstance(f, dict) for f in decoded):
        raise ValueError("stored filters are not a list of objects")
    return tuple(decoded)


def _encode_pending(pending: PendingCreate) -> str:
    return json.dumps(
        {
            "token": pending.token,
            "resource_gid": pending.resource_gid,
            "target": pending.target,
            "filters": list(pending.filters),
            "expires_at": pending.expires_at,
        }
    )


def _decode_pending(text: Any) -> PendingCreate | None:
    if text is None:
        return None
    data = json.loads(text)
    return PendingCreate(
        token=data["token"],
        resource_gid=data["resource_gid"],
        target=data["target"],
        filters=tuple(data["filters"]),
        expires_at=float(data["expires_at"]),
    )


def _encode_record(record: SubscriptionRecord) -> dict[Any, Any]:
    # redis-py's stubs want its own key union; the values are plain str.
    fields: dict[Any, Any] = {
        "token": record.token,
        "secret": record.secret,
        "resource_gid": record.resource_gid,
        "target": record.target,
        "filters": json.dumps(list(record.filters)),
        "created_at": repr(record.created_at),
    }
    if record.webhook_gid is not None:
        fields["webhook_gid"] = record.webhook_gid
    if record.last_seen_at is not None:
        fields["last_seen_at"] = repr(record.last_seen_at)
    return fields


def _decode_record(fields: Any) -> SubscriptionRecord | None:
    if not fields:
        return None
    created_at = _float(fields["created_at"])
    assert created_at is not None
    return SubscriptionRecord(
        token=fields["token"],
        secret=fields["secret"],
        resource_gid=fields["resource_gid"],
        target=fields["target"],
        filters=_filters(fields["filters"]),
        webhook_gid=fields.get("webhook_gid") or None,
        created_at=created_at,
        last_seen_at=_float(fields.get("last_seen_at")),
    )


class RedisStore:
    """Pending creates and records in Redis, shared across processes.

    Args:
        url: ``redis://[user:password@]host:port/db`` (or ``rediss://`` for TLS); redis-py's query
            options are honoured.
        namespace: Prefix of every key; replicas that share webhooks share it.
        clock: Seconds since the epoch, the clock of ``PendingCreate.expires_at``; used only to
            turn expiry times into Redis TTLs.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not namespace or any(c.isspace() for c in namespace):
            raise InvalidRequestError("a Redis namespace must be non-empty, without whitespace")
        try:
            self._redis: aioredis.Redis = aioredis.Redis.from_url(
                url, decode_responses=True, socket_connect_timeout=5.0, socket_timeout=10.0
            )
        except ValueError:
            raise InvalidRequestError("the Redis URL could not be used (check its form)") from None
        self._shown = redacted_url(url)
        self._namespace = namespace
        self._clock = clock
        self._closed = False
        self._add_pending = self._redis.register_script(_ADD_PENDING)
        self._purge_expired = self._redis.register_script(_PURGE_EXPIRED)
        self._attach = self._redis.register_script(_ATTACH)
        self._touch = self._redis.register_script(_TOUCH)
        self._delete = self._redis.register_script(_DELETE)

    def __repr__(self) -> str:
        return f"RedisStore(url={self._shown!r}, namespace={self._namespace!r})"

    @property
    def namespace(self) -> str:
        """The key prefix."""
        return self._namespace

    def _key(self, kind: str, name: str | None = None) -> str:
        """``{ns}:{kind}``, or ``{ns}:{kind}:{name}``; ``name=""`` gives the prefix scripts extend."""
        return f"{self._namespace}:{kind}" if name is None else f"{self._namespace}:{kind}:{name}"

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            yield
        except (RedisError, OSError, ValueError, KeyError) as exc:
            raise StoreError(f"the Redis store failed: {type(exc).__name__}") from exc

    async def add_pending(self, pending: PendingCreate) -> None:
        """Arm the handshake for ``pending.token`` (its key expires at ``expires_at``)."""
        ttl_ms = max(1, math.ceil((pending.expires_at - self._clock()) * 1000))
        async with self._guard():
            added = await self._add_pending(
                keys=[
                    self._key("pending", pending.token),
                    self._key("record", pending.token),
                    self._key("pending-expiry"),
                ],
                args=[_encode_pending(pending), ttl_ms, repr(pending.expires_at), pending.token],
            )
        if not added:
            raise InvalidRequestError("that path token is already in use")

    async def capture_handshake(self, token: str, secret: str, now: float) -> CaptureOutcome:
        """Apply the capture rule in a WATCH/MULTI/EXEC transaction; ACCEPTED means committed."""
        pending_key, record_key = self._key("pending", token), self._key("record", token)
        async with self._guard():
            await self._purge_expired(
                keys=[self._key("pending-expiry")], args=[repr(now), self._key("pending", "")]
            )
            for _ in range(_MAX_CAPTURE_ROUNDS):
                async with self._redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(pending_key, record_key)
                    pending = _decode_pending(await pipe.get(pending_key))
                    existing = _decode_record(await pipe.hgetall(record_key))
                    outcome = decide_capture(pending, existing, secret, now)
                    if outcome is not CaptureOutcome.ACCEPTED or pending is None:
                        return outcome
                    record = record_from_capture(pending, secret, now)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(record_key, mapping=_encode_record(record))
                    pipe.zadd(self._key("records"), {token: now})
                    try:
                        await pipe.execute()
                    except WatchError:
                        continue
                    return outcome
        raise StoreError("the Redis store failed: too much contention on one path token")

    async def clear_pending(self, token: str) -> None:
        """Disarm the handshake for ``token``."""
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("pending", token))
            pipe.zrem(self._key("pending-expiry"), token)
            await pipe.execute()

    async def get(self, token: str) -> SubscriptionRecord | None:
        """The record for ``token``, or None."""
        async with self._guard():
            return _decode_record(await self._redis.hgetall(self._key("record", token)))

    async def find_by_webhook(self, webhook_gid: str) -> SubscriptionRecord | None:
        """The record attached to ``webhook_gid``, or None."""
        async with self._guard():
            token: Any = await self._redis.get(self._key("webhook", webhook_gid))
            if token is None:
                return None
            record = _decode_record(await self._redis.hgetall(self._key("record", token)))
        return record if record is not None and record.webhook_gid == webhook_gid else None

    async def list_records(self) -> list[SubscriptionRecord]:
        """Every record, oldest first (ties by token)."""
        async with self._guard():
            tokens: Any = await self._redis.zrange(self._key("records"), 0, -1)
            async with self._redis.pipeline(transaction=False) as pipe:
                for token in tokens:
                    pipe.hgetall(self._key("record", token))
                rows: list[Any] = await pipe.execute()
            return [record for row in rows if (record := _decode_record(row)) is not None]

    async def attach_webhook(self, token: str, webhook_gid: str) -> None:
        """Set the record's webhook gid.

        Raises:
            StoreError: No record for ``token``.
        """
        async with self._guard():
            attached = await self._attach(
                keys=[self._key("record", token), self._key("webhook", webhook_gid)],
                args=[token, webhook_gid, self._key("webhook", "")],
            )
        if not attached:
            raise StoreError("no subscription record for that path token")

    async def touch(self, token: str, now: float) -> None:
        """Note a verified delivery at ``now``; no-op without a record."""
        async with self._guard():
            await self._touch(keys=[self._key("record", token)], args=[repr(now)])

    async def delete(self, token: str) -> None:
        """Forget the record and any pending create for ``token``."""
        async with self._guard():
            await self._delete(
                keys=[
                    self._key("record", token),
                    self._key("pending", token),
                    self._key("records"),
                    self._key("pending-expiry"),
                ],
                args=[token, self._key("webhook", "")],
            )

    async def aclose(self) -> None:
        """Close the connections; later calls raise StoreError. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._redis.aclose()
        except (RedisError, OSError) as exc:
            raise StoreError(f"the Redis store failed: {type(exc).__name__}") from exc

    async def __aenter__(self) -> Self:
        # Connect now, so a wrong URL or a down server fails at startup rather than at a handshake.
        async with self._guard():
            await self._redis.ping()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
