"""The aiohttp receiver: answers handshakes and verifies deliveries at ``POST {prefix}/h/{token}``.

Invariants:

* A request carrying ``X-Hook-Secret`` is a handshake. It needs no signature and no body (none is
  read). The secret is captured through the store, durably, *before* the answer: 200 with the
  byte-identical ``X-Hook-Secret`` when the store accepts, 403 without the header when it refuses
  (no create in flight for the token), and the store is left unchanged. The handler awaits nothing
  but the store, never the create's completion.
* Anything else is a delivery: a body above ``max_body_size`` gets 413 before any HMAC work (for
  declared and chunked bodies alike); an unknown token or empty secret gets 401; the signature is
  verified over the exact body bytes (401 on any fault, never 500, never skipped); only then is the
  body parsed (400 when malformed).
* A heartbeat (``{"events": []}``) gets 200 and no handler call. Events with no handler set get
  503, so Asana resends them rather than see them acknowledged and forgotten.
* Events already handled for the same token within ``dedupe_window`` are dropped from a batch
  (Asana redelivers a batch it saw answered late). In inline mode they count as handled only once
  the handler returned: a failed batch gets 500 and its retry is processed again, and a resend that
  arrives while the first attempt still runs is handled twice rather than risk being lost.
* In background mode the 200 is written and the connection closed before the handler runs, in the
  same aiohttp request task. The receiver tracks each such handler in a cancel scope: at shutdown
  (``aclose()``, or the shutdown of whichever runner serves ``app``) it waits up to
  ``shutdown_timeout`` for them, then cancels the rest and waits for them to unwind. No task is left
  unowned, and ``start``/``aclose`` need no task affinity. Keep aiohttp's default
  ``handler_cancellation=False`` when mounting, or Asana hanging up cancels background handlers.
* In durable mode (``AckMode.DURABLE``) a verified batch with events is persisted to the inbox
  (:class:`asana_hooks.inbox.Inbox`) before the 200; an inbox failure gets 503, so nothing
  acknowledged is ever only in memory. Duplicate suppression is the inbox's (persisted, shared by
  replicas), not the in-memory one. The receiver's workers claim persisted batches and call
  ``on_delivery`` at least once: a failure is retried with capped exponential backoff, and after
  ``InboxConfig.max_attempts`` the batch becomes a dead letter. The workers run in one anyio task
  group inside a host task that ``start()`` creates and ``aclose()`` stops (waiting up to
  ``shutdown_timeout`` for running handlers, then cancelling them and handing their batches back),
  so, as in background mode, ``start``/``aclose`` need no task affinity.
* Logs never contain secrets, signatures, bodies or whole path tokens (at most a 4-character
  prefix). The standalone server runs without aiohttp's access log, which would print tokens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import anyio
from aiohttp import web

from asana_hooks.config import AckMode, ReceiverConfig
from asana_hooks.dedupe import RecentEvents
from asana_hooks.deliveries import Delivery, check_body_size, event_fingerprint, parse_delivery
from asana_hooks.errors import (
    DeliveryRefused,
    InvalidRequestError,
    MalformedPayload,
    PayloadTooLarge,
    SignatureInvalid,
    StoreError,
)
from asana_hooks.handshake import CaptureOutcome, SecretStore, SubscriptionRecord
from asana_hooks.inbox import (
    Inbox,
    InboxEntry,
    delivery_fingerprints,
    describe_error,
    next_attempt_at,
    select_fresh,
)
from asana_hooks.signing import verify_signature

__all__ = ["SECRET_HEADER", "DeliveryHandler", "Receiver"]

#: The handshake header Asana sends once and expects echoed.
SECRET_HEADER = "X-Hook-Secret"  # noqa: S105 - a header name, not a secret

#: What the receiver calls with each verified delivery that carries events.
DeliveryHandler = Callable[[SubscriptionRecord, Delivery], Awaitable[None]]

_log = logging.getLogger("asana_hooks.receiver")

# The alphabet of secrets.token_urlsafe; anything else in the path is not one of our tokens.
_PATH_SEGMENT = r"[A-Za-z0-9_-]{1,128}"
_TOKEN_PATTERN = re.compile(_PATH_SEGMENT)


# Seconds: how stale `last_seen_at` may get before a delivery with events records itself again.
_LAST_SEEN_RESOLUTION = 1.0


def _short(token: str) -> str:
    """A token prefix that identifies it in logs without letting a reader post to it."""
    return f"{token[:4]}…"


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason)


class Receiver:
    """Answers Asana's handshakes and hands verified deliveries to ``on_delivery``.

    Use it standalone (``async with Receiver(store) as receiver:`` binds ``config.host:port``) or
    mount ``receiver.app`` under your own aiohttp application with ``parent.add_subapp(prefix,
    receiver.app)``; then set ``config.public_url`` to the URL Asana calls, prefix included, and
    ``config.serve=False``. Your runner then serves the app, and its shutdown drains background
    handlers as ``aclose()`` does.

    Attributes:
        app: The aiohttp application with the route ``POST {path_prefix}/h/{token}``.
        on_delivery: The handler for verified deliveries with events (None: they get 503).

    Args:
        store: Where secrets are captured and looked up.
        config: Settings; see :class:`~asana_hooks.config.ReceiverConfig`.
        on_delivery: The handler for deliveries with events; settable later as ``on_delivery``.
        clock: Wall-clock time in seconds (injected in tests).
        inbox: Where durable mode persists batches (required with ``AckMode.DURABLE``, unused
            otherwise); the caller opens and closes it.

    Raises:
        InvalidRequestError: Durable mode without an inbox.
    """

    def __init__(
        self,
        store: SecretStore,
        *,
        config: ReceiverConfig = ReceiverConfig(),  # noqa: B008 - frozen, so sharing it is safe
        on_delivery: DeliveryHandler | None = None,
        clock: Callable[[], float] = time.time,
        inbox: Inbox | None = None,
    ) -> None:
        if config.ack_mode is AckMode.DURABLE and inbox is None:
            raise InvalidRequestError("AckMode.DURABLE needs an inbox (Receiver(..., inbox=...))")
        self._store = store
        self._inbox = inbox
        self._config = config
        self.on_delivery = on_delivery
        self._clock = clock
        self._recent = (
            RecentEvents(config.dedupe_window, config.dedupe_max_entries)
            if config.dedupe_window is not None
            else None
        )
        # The body is read in _read_body under max_body_size; this bound covers anything else.
        self.app = web.Application(client_max_size=config.max_body_size + 1)
        self.app.router.add_post(f"{config.path_prefix}/h/{{token:{_PATH_SEGMENT}}}", self._handle)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._started = False
        # Background handlers outlive their connection (Asana hangs up after the 200), so aiohttp
        # stops tracking them: the receiver does, to drain and then cancel them at shutdown.
        self._background: set[anyio.CancelScope] = set()
        self._all_done: anyio.Event | None = None
        self._closing = False
        # on_shutdown runs before aiohttp drains connections, which would wait for these handlers
        # without ever cancelling them.
        self.app.on_shutdown.append(self._on_app_shutdown)
        # Durable-mode workers: a host task owning their task group (see the module docstring).
        self._workers_task: asyncio.Task[None] | None = None
        self._workers_scope: anyio.CancelScope | None = None
        self._workers_done: anyio.Event | None = None
        self._workers_stopping = False
        self._wake = anyio.Event()
        self._consumer_prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def __repr__(self) -> str:
        state = "started" if self._started else "stopped"
        return f"Receiver(path_prefix={self._config.path_prefix!r}, {state})"

    @property
    def config(self) -> ReceiverConfig:
        """The receiver's settings."""
        return self._config

    @property
    def store(self) -> SecretStore:
        """The secret store the receiver captures into and verifies from."""
        return self._store

    @property
    def inbox(self) -> Inbox | None:
        """The durable-mode inbox, if any."""
        return self._inbox

    @property
    def base_url(self) -> str:
        """``http://host:port`` actually bound; ``public_url`` when not serving.

        Raises:
            RuntimeError: Not serving and no ``public_url`` configured.
        """
        if self._base_url is not None:
            return self._base_url
        if self._config.public_url is not None:
            return self._config.public_url.rstrip("/")
        raise RuntimeError("the receiver is not serving; start it or set ReceiverConfig.public_url")

    @property
    def public_url(self) -> str:
        """The base URL Asana calls: ``config.public_url``, or else ``base_url``."""
        if self._config.public_url is not None:
            return self._config.public_url.rstrip("/")
        return self.base_url

    @property
    def target_prefix(self) -> str:
        """What every target of this receiver starts with: ``public_url + path_prefix + "/h/"``."""
        return f"{self.public_url}{self._config.path_prefix}/h/"

    def target_for(self, token: str) -> str:
        """The target URL to give Asana for a path token.

        Raises:
            InvalidRequestError: ``token`` is not a path token (see
                :func:`asana_hooks.handshake.new_path_token`).
        """
        if not isinstance(token, str) or not _TOKEN_PATTERN.fullmatch(token):
            raise InvalidRequestError("not a valid path token (1..128 characters of A-Z a-z 0-9 _ -)")
        return self.target_prefix + token

    async def start(self) -> None:
        """Bind the TCP site on ``config.host:config.port`` (nothing when ``config.serve`` is False).

        Raises:
            RuntimeError: Already started.
            OSError: The address could not be bound.
        """
        if self._started:
            raise RuntimeError("the receiver is already started")
        self._closing = False
        if self._config.serve:
            await self._serve()
        self._start_workers()
        self._started = True

    async def _serve(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=self._config.shutdown_timeout)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._config.host, self._config.port)
            await site.start()
            host, port = runner.addresses[0][:2]
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def aclose(self) -> None:
        """Stop serving; in-flight requests and background handlers get ``shutdown_timeout`` seconds
        to finish before they are cancelled. Safe to call twice."""
        runner, self._runner = self._runner, None
        self._base_url = None
        self._started = False
        if runner is not None:
            await runner.cleanup()
        await self._drain_background()
        await self._stop_workers()

    async def _on_app_shutdown(self, app: web.Application) -> None:
        # Runs from whichever runner serves the app, the caller's too when mounted.
        await self._drain_background()

    async def _drain_background(self) -> None:
        """Wait up to ``shutdown_timeout`` for background handlers, then cancel the rest."""
        self._closing = True
        if not self._background:
            return
        all_done = self._all_done = anyio.Event()
        try:
            with anyio.move_on_after(self._config.shutdown_timeout):
                await all_done.wait()
            if self._background:
                _log.warning(
                    "cancelling %d background delivery handlers still running at shutdown",
                    len(self._background),
                )
                for scope in list(self._background):
                    scope.cancel()
                with anyio.move_on_after(self._config.shutdown_timeout):
                    await all_done.wait()
        finally:
            self._all_done = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if SECRET_HEADER in request.headers:
            return await self._handshake(request, token)
        return await self._delivery(request, token)

    async def _handshake(self, request: web.Request, token: str) -> web.StreamResponse:
        values = request.headers.getall(SECRET_HEADER)
        if len(values) != 1:
            _log.warning("refused a handshake for path token %s: X-Hook-Secret repeated", _short(token))
            return _text(400, "one X-Hook-Secret header expected")
        secret = values[0]
        try:
            outcome = await self._store.capture_handshake(token, secret, self._clock())
        except StoreError:
            _log.exception("the store failed while capturing a handshake for path token %s", _short(token))
            return _text(503, "secret store unavailable")
        if outcome is CaptureOutcome.REFUSED:
            _log.warning("refused a handshake for path token %s: no create in flight for it", _short(token))
            return _text(403, "no webhook creation in flight for this path")
        _log.info("answered the handshake for path token %s (%s)", _short(token), outcome.value)
        return web.Response(status=200, headers={SECRET_HEADER: secret})

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self._config.max_body_size
        check_body_size(request.content_length, limit)
        body = bytearray()
        try:
            while chunk := await request.content.readany():
                body.extend(chunk)
                if len(body) > limit:
                    raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
        except web.RequestPayloadError as exc:
            # A corrupt Content-Encoding (gzip, deflate) or a truncated chunked body.
            raise MalformedPayload("the request body could not be read (bad encoding or truncated)") from exc
        return bytes(body)

    async def _delivery(self, request: web.Request, token: str) -> web.StreamResponse:
        short = _short(token)
        try:
            body = await self._read_body(request)
        except PayloadTooLarge as exc:
            _log.warning("refused a delivery for path token %s: %s", short, exc)
            return _text(413, "body too large")
        except MalformedPayload as exc:
            _log.warning("refused a delivery for path token %s: %s", short, exc)
            refusal = _text(400, "unreadable body")
            # The rest of the request cannot be parsed, so this connection cannot carry another one.
            refusal.force_close()
            return refusal
        try:
            record = await self._store.get(token)
        except StoreError:
            _log.exception("the store failed while looking up path token %s", short)
            return _text(503, "secret store unavailable")
        if record is None or not record.secret:
            _log.error("no secret for this webhook path (token %s); re-create required", short)
            return _text(401, "unknown webhook")
        try:
            verify_signature(record.secret, body, request.headers)
        except SignatureInvalid as exc:
            _log.warning("refused a delivery for path token %s: %s", short, exc)
            return _text(401, "invalid signature")
        try:
            delivery = parse_delivery(body)
        except MalformedPayload as exc:
            _log.error("refused a correctly signed delivery for path token %s: %s", short, exc)
            return _text(400, "malformed delivery")
        now = self._clock()
        try:
            # Heartbeats always count; busy webhooks are recorded at most once a second, so a
            # stream of deliveries does not turn into a stream of durable store writes.
            seen = record.last_seen_at
            if delivery.is_heartbeat or seen is None or now - seen >= _LAST_SEEN_RESOLUTION:
                await self._store.touch(token, now)
        except StoreError:
            # Verification succeeded; a failed last-seen update must not make Asana resend.
            _log.warning("could not record the last delivery time for path token %s", short, exc_info=True)
        if delivery.is_heartbeat:
            _log.debug("heartbeat for path token %s", short)
            return web.Response(status=200)
        if self._config.ack_mode is AckMode.DURABLE:
            return await self._persist(token, delivery, now)
        handler = self.on_delivery
        if handler is None:
            _log.warning(
                "no delivery handler is set; answering 503 for path token %s so Asana resends", short
            )
            return _text(503, "no delivery handler")
        fresh, keys = self._drop_recent(token, delivery, now)
        if fresh.is_heartbeat:
            _log.info("dropped a redelivered batch for path token %s", short)
            return web.Response(status=200)
        if self._config.ack_mode is AckMode.BACKGROUND:
            return await self._acknowledge_then_handle(request, handler, record, fresh, keys, now)
        try:
            await handler(record, fresh)
        except DeliveryRefused as refusal:
            # The handler declined the batch on purpose (e.g. nothing here handles that webhook).
            _log.warning("delivery for path token %s refused: %s; Asana resends", short, refusal)
            return _text(refusal.http_status, "delivery refused")
        except Exception:
            _log.exception(
                "the delivery handler failed for path token %s; answering 500 so Asana resends", short
            )
            return _text(500, "delivery handler failed")
        self._remember(keys, now)
        return web.Response(status=200)

    async def _acknowledge_then_handle(
        self,
        request: web.Request,
        handler: DeliveryHandler,
        record: SubscriptionRecord,
        delivery: Delivery,
        keys: list[str],
        now: float,
    ) -> web.StreamResponse:
        if self._closing:
            # Nothing would run the handler to completion: let Asana resend after the restart.
            _log.warning("shutting down; answering 503 to a delivery for path token %s", _short(record.token))
            return _text(503, "shutting down")
        # Counted as handled before the first await, so a concurrent redelivery is dropped.
        self._remember(keys, now)
        response = web.Response(status=200)
        # The connection stays busy until the handler returns; closing it keeps Asana's next
        # delivery off it.
        response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            # Asana did not get the 200 and will resend: let the resend through.
            self._forget(keys)
            _log.warning("could not acknowledge a delivery for path token %s", _short(record.token))
            return response
        with anyio.CancelScope() as scope:
            self._background.add(scope)
            try:
                await handler(record, delivery)
            except Exception:
                _log.exception(
                    "a background delivery handler failed for path token %s; the batch was acknowledged",
                    _short(record.token),
                )
            finally:
                self._background.discard(scope)
                if not self._background and self._all_done is not None:
                    self._all_done.set()
        return response

    async def _persist(self, token: str, delivery: Delivery, now: float) -> web.StreamResponse:
        """Durable mode: the 200 goes out only once the batch is in the inbox."""
        assert self._inbox is not None
        short = _short(token)
        try:
            entry_id = await self._inbox.put(
                token, delivery.body, delivery_fingerprints(delivery), now, self._config.dedupe_window
            )
        except StoreError:
            _log.exception("the inbox failed; answering 503 for path token %s so Asana resends", short)
            return _text(503, "inbox unavailable")
        if entry_id is None:
            _log.info("dropped a redelivered batch for path token %s", short)
        else:
            self._notify_workers()
        return web.Response(status=200)

    def _notify_workers(self) -> None:
        wake, self._wake = self._wake, anyio.Event()
        wake.set()

    def _start_workers(self) -> None:
        if self._inbox is None or self._config.ack_mode is not AckMode.DURABLE:
            return
        if self._config.inbox.workers == 0 or self._workers_task is not None:
            return
        self._workers_stopping = False
        self._workers_scope = anyio.CancelScope()
        self._workers_done = anyio.Event()
        # The workers outlive start(), which may run in another task than aclose(): one host task
        # owns their task group, and _stop_workers() always stops and awaits it.
        self._workers_task = asyncio.get_running_loop().create_task(
            self._host_workers(self._workers_scope, self._workers_done), name="asana_hooks inbox workers"
        )

    async def _host_workers(self, scope: anyio.CancelScope, done: anyio.Event) -> None:
        try:
            with scope:
                async with anyio.create_task_group() as group:
                    for index in range(self._config.inbox.workers):
                        group.start_soon(self._work, f"{self._consumer_prefix}-{index}")
        except Exception:
            _log.exception("the inbox workers stopped on an unexpected error")
        finally:
            done.set()

    async def _stop_workers(self) -> None:
        task, self._workers_task = self._workers_task, None
        scope, done = self._workers_scope, self._workers_done
        if task is None or scope is None or done is None:
            return
        self._workers_stopping = True
        self._notify_workers()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._config.shutdown_timeout):
                await done.wait()
            if not done.is_set():
                _log.warning("cancelling inbox workers still handling batches at shutdown")
                scope.cancel()
                await done.wait()
        await task

    async def _idle(self) -> None:
        wake = self._wake
        with anyio.move_on_after(self._config.inbox.poll_interval):
            await wake.wait()

    async def _work(self, consumer: str) -> None:
        """One worker: claim a due batch, handle it, repeat until stopped."""
        assert self._inbox is not None
        settings = self._config.inbox
        while not self._workers_stopping:
            handler = self.on_delivery
            entry: InboxEntry | None = None
            if handler is not None:
                try:
                    entry = await self._inbox.claim(consumer, self._clock(), settings.lease)
                except StoreError:
                    _log.warning("the inbox failed while claiming a batch; trying again", exc_info=True)
            if entry is None or handler is None:
                await self._idle()
                continue
            try:
                await self._process(entry, handler)
            except StoreError:
                # The batch stays leased; once the lease runs out a worker takes it over.
                _log.warning(
                    "the inbox failed while settling a batch; it will be handled again", exc_info=True
                )

    async def _process(self, entry: InboxEntry, handler: DeliveryHandler) -> None:
        assert self._inbox is not None
        short = _short(entry.token)
        try:
            record = await self._store.get(entry.token)
        except StoreError as exc:
            await self._failed(entry, exc)
            return
        if record is None:
            _log.error("dead-lettered a batch for path token %s: its webhook is no longer stored", short)
            await self._inbox.dead_letter(entry, "no subscription record for the path token", self._clock())
            return
        try:
            delivery = select_fresh(parse_delivery(entry.body), entry.fingerprints)
        except MalformedPayload as exc:
            await self._inbox.dead_letter(entry, describe_error(exc), self._clock())
            return
        error: Exception | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._keep_lease, entry)
                try:
                    await handler(record, delivery)
                except Exception as exc:
                    error = exc
                finally:
                    group.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            # Shutdown cut the handler short: hand the batch back so a worker takes it at once.
            with anyio.CancelScope(shield=True):
                try:
                    await self._inbox.release(entry)
                except StoreError:
                    _log.warning("could not hand back a batch for path token %s", short, exc_info=True)
            raise
        if error is not None:
            await self._failed(entry, error)
        else:
            await self._inbox.complete(entry)

    async def _keep_lease(self, entry: InboxEntry) -> None:
        assert self._inbox is not None
        while True:
            await anyio.sleep(self._config.inbox.lease / 3)
            try:
                await self._inbox.renew(entry, self._clock())
            except StoreError:
                _log.warning("could not renew the lease of a batch", exc_info=True)

    async def _failed(self, entry: InboxEntry, error: Exception) -> None:
        assert self._inbox is not None
        attempts = entry.attempts + 1
        now = self._clock()
        # Jitter spreads the retries of replicas; it needs no cryptographic strength.
        at = next_attempt_at(attempts, self._config.inbox, now, random.random())  # noqa: S311
        text = describe_error(error)
        if at is None:
            _log.error(
                "dead-lettered a batch for path token %s after %d failed attempts",
                _short(entry.token),
                attempts,
                exc_info=error,
            )
            await self._inbox.dead_letter(entry, text, now)
        else:
            _log.warning(
                "the delivery handler failed for path token %s (attempt %d); retrying in %.1f s",
                _short(entry.token),
                attempts,
                at - now,
                exc_info=error,
            )
            await self._inbox.retry(entry, text, at)

    def _drop_recent(self, token: str, delivery: Delivery, now: float) -> tuple[Delivery, list[str]]:
        """The delivery without events handled recently (or repeated in it), and the new keys."""
        recent = self._recent
        if recent is None:
            return delivery, []
        keys: list[str] = []
        in_batch: set[str] = set()

        def fresh(raw: object) -> bool:
            key = f"{token}:{event_fingerprint(raw)}"
            if key in in_batch or recent.contains(key, now):
                return False
            in_batch.add(key)
            keys.append(key)
            return True

        events = [event for event in delivery.events if fresh(event.raw)]
        unparsed = [item for item in delivery.unparsed if fresh(item)]
        if len(events) == len(delivery.events) and len(unparsed) == len(delivery.unparsed):
            return delivery, keys  # nothing seen before: the usual case, no copy
        return dataclasses.replace(delivery, events=events, unparsed=unparsed), keys

    def _remember(self, keys: list[str], now: float) -> None:
        if self._recent is not None:
            for key in keys:
                self._recent.record(key, now)

    def _forget(self, keys: list[str]) -> None:
        if self._recent is not None:
            for key in keys:
                self._recent.forget(key)
