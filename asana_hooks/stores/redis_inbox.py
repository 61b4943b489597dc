"""The durable inbox in Redis Streams, shared by receiver replicas.

Any replica persists a batch; any replica's workers process it. Keys under ``{ns}:inbox:``:

* ``stream`` — batches waiting or leased, read through the consumer group ``workers``
  (XREADGROUP hands each new batch to one worker; XACK + XDEL forget it once handled).
* A lease is the stream's pending-entries list: a batch whose worker died stays pending, idle,
  and XAUTOCLAIM hands it to another worker once idle longer than ``lease``. A live worker renews
  its lease (XCLAIM ... JUSTID resets the idle time) while its handler runs. Lease times are
  Redis's clock; retry times are the receivers' clock.
* ``delayed`` (sorted set by due time) and ``delayed:{entry_id}`` (the batch) — failed batches
  waiting for their next attempt; a claim first moves due ones back onto the stream, atomically.
* ``dead`` — a stream of dead letters.
* ``seen:{token}:{fingerprint}`` — duplicate-suppression marks, expiring with the window. A batch
  and its marks are written in one WATCH/MULTI/EXEC transaction after
  :func:`asana_hooks.inbox.fresh_fingerprints` decided which events are new.

With ``appendonly yes`` and ``appendfsync always`` a batch is on disk before ``put`` returns.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError, WatchError

from asana_hooks.errors import InvalidRequestError, StoreError
from asana_hooks.inbox import DeadLetter, InboxEntry, fresh_fingerprints, seen_key
from asana_hooks.stores.redis import DEFAULT_NAMESPACE, redacted_url

__all__ = ["RedisInbox"]

_GROUP = "workers"
_MAX_PUT_ROUNDS = 64
# How far XAUTOCLAIM may page through the pending entries looking for a stale one, per claim.
_MAX_RECLAIM_PAGES = 32

_PROMOTE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 32)
for _, id in ipairs(due) do
  local key = ARGV[2] .. id
  local fields = redis.call('HGETALL', key)
  if #fields > 0 then
    redis.call('XADD', KEYS[2], '*', unpack(fields))
  end
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], id)
end
return #due
"""


def _text(fields: Any, name: str) -> str:
    return bytes(fields[name.encode()]).decode("utf-8")


def _entry_fields(entry: InboxEntry, *, attempts: int, last_error: str | None) -> dict[Any, Any]:
    return {
        "entry_id": entry.entry_id,
        "token": entry.token,
        "body": entry.body,
        "fingerprints": ",".join(entry.fingerprints),
        "received_at": repr(entry.received_at),
        "attempts": str(attempts),
        "last_error": last_error or "",
    }


def _receipt(entry: InboxEntry) -> tuple[str, str]:
    """The stream id and the consumer that claimed it, from a receipt ``"{id} {consumer}"``."""
    stream_id, _, consumer = entry.receipt.partition(" ")
    return stream_id, consumer


def _split_fingerprints(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


class RedisInbox:
    """Persisted batches in a Redis stream with a consumer group; dead letters in another.

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS).
        namespace: Key prefix; replicas sharing work share it.
    """

    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        if not namespace or any(c.isspace() for c in namespace):
            raise InvalidRequestError("a Redis namespace must be non-empty, without whitespace")
        try:
            self._redis: aioredis.Redis = aioredis.Redis.from_url(
                url, decode_responses=False, socket_connect_timeout=5.0, socket_timeout=10.0
            )
        except ValueError:
            raise InvalidRequestError("the Redis URL could not be used (check its form)") from None
        self._shown = redacted_url(url)
        self._namespace = namespace
        self._prefix = f"{namespace}:inbox:"
        self._stream = self._prefix + "stream"
        self._delayed = self._prefix + "delayed"
        self._dead = self._prefix + "dead"
        self._group_ready = False
        self._closed = False
        # Only used to make a released batch look stale at once (see release()).
        self._lease_ms = 60_000
        self._promote_due = self._redis.register_script(_PROMOTE_DUE)

    def __repr__(self) -> str:
        return f"RedisInbox(url={self._shown!r}, namespace={self._namespace!r})"

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        if self._closed:
            raise StoreError("the inbox is closed")
        try:
            if not self._group_ready:
                try:
                    await self._redis.xgroup_create(self._stream, _GROUP, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._group_ready = True
            yield
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                # The stream was deleted under us (FLUSHDB, say): recreate the group next time.
                self._group_ready = False
            raise StoreError(f"the Redis inbox failed: {type(exc).__name__}") from exc
        except (RedisError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            raise StoreError(f"the Redis inbox failed: {type(exc).__name__}") from exc

    async def put(
        self, token: str, body: bytes, fingerprints: Sequence[str], now: float, window: float | None
    ) -> str | None:
        """Persist the batch's fresh events and mark them seen, in one transaction."""
        entry_id = uuid.uuid4().hex
        unique = sorted(set(fingerprints))
        keys = [self._prefix + "seen:" + seen_key(token, fingerprint) for fingerprint in unique]
        async with self._guard():
            for _ in range(_MAX_PUT_ROUNDS):
                async with self._redis.pipeline(transaction=True) as pipe:
                    seen: dict[str, float] = {}
                    if window is not None and keys:
                        await pipe.watch(*keys)
                        values = await pipe.mget(keys)
                        seen = {fp: float(v) for fp, v in zip(unique, values, strict=True) if v is not None}
                    fresh = fresh_fingerprints(fingerprints, seen, now, window)
                    if not fresh:
                        return None
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if window is not None:
                        window_ms = max(1, math.ceil(window * 1000))
                        for fingerprint in set(fresh):
                            pipe.set(
                                self._prefix + "seen:" + seen_key(token, fingerprint), repr(now), px=window_ms
                            )
                    batch: dict[Any, Any] = {
                        "entry_id": entry_id,
                        "token": token,
                        "body": bytes(body),
                        "fingerprints": ",".join(fresh),
                        "received_at": repr(now),
                        "attempts": "0",
                        "last_error": "",
                    }
                    pipe.xadd(self._stream, batch)
                    try:
                        await pipe.execute()
                    except WatchError:
                        continue
                    return entry_id
        raise StoreError("the Redis inbox failed: too much contention on one batch")

    def _entry(self, stream_id: bytes, fields: Any, consumer: str) -> InboxEntry:
        last_error = _text(fields, "last_error")
        return InboxEntry(
            entry_id=_text(fields, "entry_id"),
            receipt=f"{stream_id.decode('ascii')} {consumer}",
            token=_text(fields, "token"),
            body=fields[b"body"],
            fingerprints=_split_fingerprints(_text(fields, "fingerprints")),
            received_at=float(_text(fields, "received_at")),
            attempts=int(_text(fields, "attempts")),
            last_error=last_error or None,
        )

    async def claim(self, consumer: str, now: float, lease: float) -> InboxEntry | None:
        """Lease a batch: a due retry, a dead worker's batch, or a new one."""
        lease_ms = max(1, math.ceil(lease * 1000))
        self._lease_ms = lease_ms
        async with self._guard():
            await self._promote_due(keys=[self._delayed, self._stream], args=[repr(now), self._delayed + ":"])
            cursor: bytes | str = "0-0"
            for _ in range(_MAX_RECLAIM_PAGES):
                reply: Any = await self._redis.xautoclaim(
                    self._stream, _GROUP, consumer, min_idle_time=lease_ms, start_id=cursor, count=1
                )
                cursor, messages = reply[0], reply[1]
                for stream_id, fields in messages:
                    if fields:
                        return self._entry(stream_id, fields, consumer)
                if cursor in (b"0-0", "0-0"):
                    break
            reply = await self._redis.xreadgroup(_GROUP, consumer, {self._stream: ">"}, count=1)
            for _stream, messages in reply or []:
                for stream_id, fields in messages:
                    if fields:
                        return self._entry(stream_id, fields, consumer)
        return None

    async def renew(self, entry: InboxEntry, now: float) -> None:
        """Reset the idle time of a leased batch (its owner stays the claiming worker)."""
        stream_id, consumer = _receipt(entry)
        async with self._guard():
            await self._redis.xclaim(self._stream, _GROUP, consumer, 0, [stream_id], justid=True)

    async def release(self, entry: InboxEntry) -> None:
        """Make a leased batch look stale, so the next claim takes it over at once."""
        stream_id, consumer = _receipt(entry)
        async with self._guard():
            # IDLE sets the last delivery that far back; more than any lease, less than "now".
            await self._redis.xclaim(
                self._stream, _GROUP, consumer, 0, [stream_id], idle=self._lease_ms + 1_000, justid=True
            )

    async def complete(self, entry: InboxEntry) -> None:
        """Acknowledge and delete a handled batch."""
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, _GROUP, _receipt(entry)[0])
            pipe.xdel(self._stream, _receipt(entry)[0])
            await pipe.execute()

    async def retry(self, entry: InboxEntry, error: str, not_before: float) -> None:
        """Move a failed batch to the delayed set until ``not_before``, atomically."""
        held = self._delayed + ":" + entry.entry_id
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(held)
            pipe.hset(held, mapping=_entry_fields(entry, attempts=entry.attempts + 1, last_error=error))
            pipe.zadd(self._delayed, {entry.entry_id: not_before})
            pipe.xack(self._stream, _GROUP, _receipt(entry)[0])
            pipe.xdel(self._stream, _receipt(entry)[0])
            await pipe.execute()

    async def dead_letter(self, entry: InboxEntry, error: str, now: float) -> None:
        """Move a failed batch to the dead-letter stream, atomically."""
        fields = _entry_fields(entry, attempts=entry.attempts + 1, last_error=error)
        fields["failed_at"] = repr(now)
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._dead, fields)
            pipe.xack(self._stream, _GROUP, _receipt(entry)[0])
            pipe.xdel(self._stream, _receipt(entry)[0])
            await pipe.execute()

    async def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""
        async with self._guard():
            rows: Any = await self._redis.xrange(self._dead)
            return [
                DeadLetter(
                    entry_id=_text(fields, "entry_id"),
                    token=_text(fields, "token"),
                    body=fields[b"body"],
                    fingerprints=_split_fingerprints(_text(fields, "fingerprints")),
                    received_at=float(_text(fields, "received_at")),
                    attempts=int(_text(fields, "attempts")),
                    failed_at=float(_text(fields, "failed_at")),
                    last_error=_text(fields, "last_error"),
                )
                for _id, fields in rows
            ]

    async def backlog(self) -> int:
        """Batches on the stream (waiting or leased) plus those waiting for a retry."""
        async with self._guard(), self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self._stream)
            pipe.zcard(self._delayed)
            waiting, delayed = await pipe.execute()
            return int(waiting) + int(delayed)

    async def aclose(self) -> None:
        """Close the connections; later calls raise StoreError. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._redis.aclose()
        except (RedisError, OSError) as exc:
            raise StoreError(f"the Redis inbox failed: {type(exc).__name__}") from exc

    async def __aenter__(self) -> Self:
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
