"""Handshakes and deliveries, the way Asana performs them.

* A create sends a handshake POST carrying ``X-Hook-Secret`` to the full target URL while the create
  request is held open; only ``200``/``204`` echoing the identical value within the handshake
  timeout establishes the webhook. Right after, still inside the create (Asana's own 201 already
  shows a `last_success_at`), the first heartbeat ``{"events":[]}`` is delivered; then one every 8 h.
* Events are batched per webhook for a short window and POSTed as compact JSON signed with
  ``X-Hook-Signature`` = lowercase hex HMAC-SHA256(secret, body). Only ``200``/``204`` within the
  delivery timeout count as success. Failures are retried with exponential backoff (1 min doubling,
  capped at 1 h) and after 24 h without success the webhook is deleted.

All background work runs in the emulator's one task group. Long waits read the injected clock;
the batch window and the timeouts are real time.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import anyio
from anyio.abc import TaskGroup

from asana_hooks.emulator.clock import Clock
from asana_hooks.emulator.faults import Faults, HandshakePlan
from asana_hooks.emulator.filters import matches
from asana_hooks.emulator.replies import ApiError
from asana_hooks.emulator.webhooks import Webhook

__all__ = [
    "DUPLICATE_MESSAGE",
    "FAILURE_DELETION_AFTER",
    "HEARTBEAT",
    "HEARTBEAT_INTERVAL",
    "DeliveryRecord",
    "Dispatcher",
    "retry_delay",
    "sign",
]

logger = logging.getLogger("asana_hooks.emulator")

HEARTBEAT = b'{"events":[]}'
HEARTBEAT_INTERVAL = 8 * 3600.0
FAILURE_DELETION_AFTER = 24 * 3600.0
DUPLICATE_MESSAGE = (
    "Duplicated webhook. You already have an existing webhook for the given resource and target. "
    "Delete the old one before creating another."
)
_RETRY_BASE = 60.0
_RETRY_CAP = 3600.0
# How much of a failing receiver's answer is kept in `last_failure_content`.
_CONTENT_LIMIT = 1000
_USER_AGENT = "asana-hooks-emulator"


@dataclass(frozen=True, kw_only=True)
class DeliveryRecord:
    """One request the emulator sent to a webhook target, and how it ended.

    Attributes:
        kind: ``"handshake"`` or ``"delivery"`` (heartbeats are deliveries with no events).
        webhook_gid: The webhook (for a create's handshake: the gid it would get).
        target: The URL posted to.
        body: The exact bytes sent (empty for handshakes).
        status: The receiver's status, or None when no response came.
        error: Why no usable response came (timeout, connection failure), else None.
        at: Clock time when the attempt ended.
        signature: The ``X-Hook-Signature`` sent (deliveries).
        secret: The ``X-Hook-Secret`` sent (handshakes).
        echoed: The ``X-Hook-Secret`` values the receiver answered with (handshakes).
    """

    kind: Literal["handshake", "delivery"]
    webhook_gid: str
    target: str
    body: bytes
    status: int | None
    error: str | None
    at: float
    signature: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    echoed: tuple[str, ...] = field(default=(), repr=False)

    @property
    def succeeded(self) -> bool:
        """Whether the receiver answered 200 or 204 (for handshakes: the status alone)."""
        return self.status in (200, 204)

    @property
    def events(self) -> list[Any]:
        """The delivered events (empty for heartbeats and handshakes)."""
        if not self.body:
            return []
        events: list[Any] = json.loads(self.body)["events"]
        return events


def sign(secret: str, body: bytes) -> str:
    """``X-Hook-Signature``: lowercase hex HMAC-SHA256 keyed by the secret's UTF-8 bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(retry_count: int) -> float:
    """Seconds before retry number `retry_count` (1-based): 60 s doubling, capped at one hour."""
    return float(min(_RETRY_BASE * 2 ** (retry_count - 1), _RETRY_CAP))


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    status: int | None
    content: str
    echoed: tuple[str, ...] = ()


class Dispatcher:
    """Owns the webhooks' delivery state and sends everything that goes to targets."""

    def __init__(
        self,
        *,
        clock: Clock,
        faults: Faults,
        batch_window: float,
        handshake_timeout: float,
        delivery_timeout: float,
    ) -> None:
        self._clock = clock
        self._faults = faults
        self._batch_window = batch_window
        self._handshake_timeout = handshake_timeout
        self._delivery_timeout = delivery_timeout
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries: list[DeliveryRecord] = []
        self.handshakes: list[DeliveryRecord] = []
        self._session: aiohttp.ClientSession | None = None
        self._tg: TaskGroup | None = None
        self._busy = 0
        # Created in `attach`: anyio events need a running event loop.
        self._wake: anyio.Event | None = None
        self._changed: anyio.Event | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def attach(self, session: aiohttp.ClientSession, task_group: TaskGroup) -> None:
        """Start working: outgoing requests use `session`, background work runs in `task_group`."""
        self._session = session
        self._tg = task_group
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        task_group.start_soon(self._schedule)

    def detach(self) -> None:
        """Stop accepting work (the task group and session are closing)."""
        self._session = None
        self._tg = None

    # -- webhooks ------------------------------------------------------------------------------

    def has_duplicate(self, resource_gid: str, target: str) -> bool:
        """Whether a webhook for this resource and target already exists."""
        return any(
            hook.resource["gid"] == resource_gid and hook.target == target for hook in self.webhooks.values()
        )

    async def establish(
        self,
        *,
        gid: str,
        resource: Mapping[str, Any],
        workspace_gid: str,
        target: str,
        filters: list[dict[str, Any]],
        plan: HandshakePlan,
    ) -> tuple[Webhook, str]:
        """Handshake with the target, register the webhook and deliver its first heartbeat.

        Returns:
            The webhook and the secret to return in the 201's ``X-Hook-Secret``.

        Raises:
            ApiError: 400 when the handshake fails (nothing is created), 403 when an identical
                webhook was established meanwhile.
        """
        secret = secrets.token_hex(32)
        sent = secrets.token_hex(32) if plan.wrong_secret else secret
        failure = await self._handshake(gid, target, sent, plan)
        if failure is not None:
            logger.info("handshake for webhook %s failed", gid)
            raise ApiError(400, f"Webhook handshake failed: {failure}.")
        if self.has_duplicate(str(resource["gid"]), target):
            raise ApiError(403, DUPLICATE_MESSAGE)
        now = self._clock.now()
        hook = Webhook(
            gid=gid,
            resource=dict(resource),
            workspace_gid=workspace_gid,
            target=target,
            filters=filters,
            secret=secret,
            created_at=now,
            next_heartbeat_at=now + HEARTBEAT_INTERVAL,
            outbox=deque([HEARTBEAT]),
            in_flight=True,
        )
        self.webhooks[gid] = hook
        logger.info("webhook %s established on %s", gid, resource["gid"])
        self._busy += 1
        try:
            await self._attempt(hook)
        finally:
            self._busy -= 1
            self._kick()
        if plan.extra:
            self._spawn(self._extra_handshake, hook)
        return hook, secret

    def remove(self, hook: Webhook) -> None:
        """Delete a webhook: nothing more is sent for it (an attempt in flight still finishes)."""
        self.webhooks.pop(hook.gid, None)
        hook.deleted = True
        hook.pending.clear()
        hook.outbox.clear()
        hook.held = None
        self._kick()

    # -- events --------------------------------------------------------------------------------

    def publish(self, event: Mapping[str, Any], scopes: frozenset[str], *, only: str | None = None) -> int:
        """Queue an event for the webhooks that should see it; return how many.

        Args:
            event: The event (copied).
            scopes: The gids the event propagates to; a webhook on one of them receives it when
                its filters pass.
            only: Deliver to this webhook gid alone, ignoring scopes and filters.
        """
        queued = 0
        for hook in list(self.webhooks.values()):
            if only is not None:
                wanted = hook.gid == only
            else:
                wanted = hook.resource["gid"] in scopes and matches(hook.filters, event)
            if wanted:
                self._queue(hook, copy.deepcopy(dict(event)))
                queued += 1
        return queued

    def _queue(self, hook: Webhook, event: dict[str, Any]) -> None:
        hook.pending.append(event)
        if len(hook.pending) == 1:
            self._spawn(self._flush_after_window, hook)

    async def _flush_after_window(self, hook: Webhook) -> None:
        await anyio.sleep(self._batch_window)
        batch, hook.pending = hook.pending, []
        if hook.deleted or not batch:
            return
        body = json.dumps({"events": batch}, separators=(",", ":")).encode()
        if hook.held is not None:
            hook.outbox.extend([body, hook.held])
            hook.held = None
        elif self._faults.take_reorder():
            hook.held = body
        else:
            hook.outbox.append(body)

    # -- waiting -------------------------------------------------------------------------------

    def is_idle(self) -> bool:
        """Whether nothing is queued, in flight, or due now (work due later does not count)."""
        if self._busy:
            return False
        now = self._clock.now()
        for hook in self.webhooks.values():
            due = hook.next_attempt_after is None or now >= hook.next_attempt_after
            if hook.pending or hook.in_flight or now >= hook.next_heartbeat_at or (hook.outbox and due):
                return False
        return True

    async def wait_idle(self) -> None:
        """Return once `is_idle()` holds."""
        while not self.is_idle():
            assert self._changed is not None, "the emulator is not started"
            await self._changed.wait()

    # -- scheduling ----------------------------------------------------------------------------

    async def _schedule(self) -> None:
        while True:
            self._wake = anyio.Event()
            deadline = self._tick()
            self._notify()
            async with anyio.create_task_group() as alarm_group:
                if deadline is not None:
                    alarm_group.start_soon(self._alarm, deadline, alarm_group.cancel_scope)
                await self._wake.wait()
                alarm_group.cancel_scope.cancel()

    async def _alarm(self, deadline: float, scope: anyio.CancelScope) -> None:
        await self._clock.sleep_until(deadline)
        scope.cancel()

    def _tick(self) -> float | None:
        """Start whatever is due; return the clock time when something next becomes due."""
        now = self._clock.now()
        deadlines: list[float] = []
        for hook in list(self.webhooks.values()):
            if now >= hook.next_heartbeat_at:
                # A webhook that is busy or retrying is already showing signs of life.
                if not hook.outbox and not hook.in_flight:
                    hook.outbox.append(HEARTBEAT)
                hook.next_heartbeat_at = now + HEARTBEAT_INTERVAL
            deadlines.append(hook.next_heartbeat_at)
            if hook.outbox and not hook.in_flight:
                if hook.next_attempt_after is None or now >= hook.next_attempt_after:
                    hook.in_flight = True
                    self._spawn(self._attempt, hook)
                else:
                    deadlines.append(hook.next_attempt_after)
        return min(deadlines, default=None)

    def _spawn(self, func: Any, hook: Webhook) -> None:
        if self._tg is None:
            raise RuntimeError("the emulator is not started")
        self._busy += 1

        async def supervised() -> None:
            try:
                await func(hook)
            finally:
                self._busy -= 1
                self._kick()

        self._tg.start_soon(supervised)

    def _kick(self) -> None:
        assert self._wake is not None, "attach() creates the events before anything can change"
        self._wake.set()
        self._notify()

    def _notify(self) -> None:
        assert self._changed is not None, "attach() creates the events before anything can change"
        self._changed.set()
        self._changed = anyio.Event()

    # -- sending -------------------------------------------------------------------------------

    async def _attempt(self, hook: Webhook) -> None:
        """Send the head of the outbox once (twice with the duplicate fault); caller set in_flight."""
        try:
            body = hook.outbox[0]
            outcome = await self._deliver(hook, body)
            if self._faults.take_duplicate():
                outcome = await self._deliver(hook, body)
            if hook.deleted:
                return
            now = self._clock.now()
            if outcome.status in (200, 204):
                hook.outbox.popleft()
                hook.last_success_at = now
                hook.delivery_retry_count = 0
                hook.next_attempt_after = None
                hook.failure_deletion_timestamp = None
            else:
                self._record_failure(hook, now, outcome.content)
        finally:
            hook.in_flight = False

    def _record_failure(self, hook: Webhook, now: float, content: str) -> None:
        hook.delivery_retry_count += 1
        hook.last_failure_at = now
        hook.last_failure_content = content
        if hook.failure_deletion_timestamp is None:
            hook.failure_deletion_timestamp = now + FAILURE_DELETION_AFTER
        if now >= hook.failure_deletion_timestamp:
            logger.info("webhook %s deleted after 24 hours of failed deliveries", hook.gid)
            self.remove(hook)
            return
        hook.next_attempt_after = min(
            now + retry_delay(hook.delivery_retry_count), hook.failure_deletion_timestamp
        )

    async def _deliver(self, hook: Webhook, body: bytes) -> _Outcome:
        signature = sign(hook.secret, body)
        headers = {"Content-Type": "application/json", "X-Hook-Signature": signature}
        outcome, error = await self._post(hook.target, body, headers, self._delivery_timeout)
        self.deliveries.append(
            DeliveryRecord(
                kind="delivery",
                webhook_gid=hook.gid,
                target=hook.target,
                body=body,
                status=outcome.status,
                error=error,
                at=self._clock.now(),
                signature=signature,
            )
        )
        return outcome

    async def _handshake(self, gid: str, target: str, secret: str, plan: HandshakePlan) -> str | None:
        """Send the handshake; None when it succeeded, else why it failed (no secret in it)."""
        timeout = self._handshake_timeout
        if plan.drop:
            if not plan.immediate:
                await anyio.sleep(timeout)
            return f"the target did not respond within {timeout:g} seconds"
        outcome, error = await self._send_handshake(gid, target, secret, delay=plan.delay)
        if error is not None:
            return error
        if outcome.status not in (200, 204):
            return f"the target answered {outcome.status} instead of 200 or 204"
        if not outcome.echoed:
            return "the target's response did not include the X-Hook-Secret header"
        if outcome.echoed != (secret,):
            return "the X-Hook-Secret header in the target's response does not match the one sent"
        return None

    async def _extra_handshake(self, hook: Webhook) -> None:
        await self._send_handshake(hook.gid, hook.target, secrets.token_hex(32))

    async def _send_handshake(
        self, gid: str, target: str, secret: str, *, delay: float = 0.0
    ) -> tuple[_Outcome, str | None]:
        outcome, error = await self._post(
            target, b"", {"X-Hook-Secret": secret}, self._handshake_timeout, delay=delay
        )
        self.handshakes.append(
            DeliveryRecord(
                kind="handshake",
                webhook_gid=gid,
                target=target,
                body=b"",
                status=outcome.status,
                error=error,
                at=self._clock.now(),
                secret=secret,
                echoed=outcome.echoed,
            )
        )
        return outcome, error

    async def _post(
        self, target: str, body: bytes, headers: Mapping[str, str], limit: float, *, delay: float = 0.0
    ) -> tuple[_Outcome, str | None]:
        """POST with a real-time limit; return the outcome and, when no response came, why."""
        assert self._session is not None, "the emulator is not started"
        outcome = _Outcome(status=None, content="")
        error: str | None = None
        with anyio.move_on_after(limit) as scope:
            if delay:
                await anyio.sleep(delay)
            try:
                async with self._session.post(
                    target,
                    # Handshakes carry no body at all (not even a Content-Type).
                    data=body or None,
                    headers={**headers, "User-Agent": _USER_AGENT},
                    allow_redirects=False,
                ) as response:
                    text = (await response.content.read(_CONTENT_LIMIT)).decode("utf-8", "replace")
                    outcome = _Outcome(
                        status=response.status,
                        content=f"{response.status} {response.reason or ''}".rstrip() + f"\n\n{text}",
                        echoed=tuple(response.headers.getall("X-Hook-Secret", [])),
                    )
            except aiohttp.ServerDisconnectedError:
                error = "the target closed the connection without answering"
            except aiohttp.ClientConnectorError:
                error = "could not connect to the target (connection refused or unreachable)"
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                error = f"the request to the target failed ({type(exc).__name__})"
        if scope.cancelled_caught:
            error = f"the target did not respond within {limit:g} seconds"
        if error is not None:
            outcome = _Outcome(status=None, content=error)
        return outcome, error
