"""One-call subscribe: the only layer that knows both the REST client and the receiver.

``Hub.subscribe`` runs the whole protocol on one event loop::

    path token -> pending create in the store -> POST /webhooks (in flight) ->
    receiver answers Asana's handshake (secret stored before the 200) -> 201 ->
    cross-check the 201's X-Hook-Secret -> attach the webhook gid -> route deliveries

Nothing is left half-made: every failure path clears the pending entry, and a webhook that Asana
created but whose secret we cannot vouch for is deleted before the error is raised. The create is
shielded from anyio cancellation (deadlines, cancelled task groups): a cancelled subscribe still
learns the webhook's gid and stores or deletes it, at the cost of overrunning the deadline by up to
the client's timeout. A bare ``asyncio`` cancellation (``task.cancel()``, ``asyncio.timeout``) is not
stopped by anyio's shield: the request is aborted and the pending entry cleared, so a webhook Asana
may have created anyway has no secret here; ``subscribe(..., workspace=...)`` deletes such
unverifiable webhooks later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, Self

import anyio

from asana_hooks.api_requests import FilterInput, request_filters
from asana_hooks.client import AsanaClient
from asana_hooks.config import ClientConfig, ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.errors import (
    AsanaHooksError,
    DeliveryRefused,
    HandshakeNotReceived,
    HandshakeSecretMismatch,
    InvalidRequestError,
    WebhookNotFound,
)
from asana_hooks.handshake import PendingCreate, SecretStore, SubscriptionRecord, new_path_token
from asana_hooks.inbox import Inbox
from asana_hooks.models import Webhook
from asana_hooks.receiver import Receiver
from asana_hooks.routing import Handler, Router

__all__ = ["DERIVE", "HealthReport", "HealthStatus", "Hub", "Subscription"]

logger = logging.getLogger("asana_hooks.hub")


class _Derive:
    def __repr__(self) -> str:
        return "DERIVE"


#: Default for ``subscribe(filters=...)``: ask Asana only for what the router handles.
DERIVE: Final = _Derive()

_FULL_FIELDS: Final = (
    "active",
    "created_at",
    "delivery_retry_count",
    "failure_deletion_timestamp",
    "filters",
    "last_failure_at",
    "last_failure_content",
    "last_success_at",
    "next_attempt_after",
    "resource",
    "resource.name",
    "target",
)


class HealthStatus(StrEnum):
    """How a stored subscription's webhook is doing, as Asana reports it."""

    OK = "ok"
    FAILING = "failing"
    INACTIVE = "inactive"
    DELETED = "deleted"
    REPAIRED = "repaired"


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthReport:
    """One stored subscription checked against Asana.

    Attributes:
        webhook_gid: The webhook checked (for REPAIRED, the old one).
        resource_gid: The watched resource.
        status: The verdict.
        webhook: The record Asana returned (None when it is gone).
        replacement: For REPAIRED, the new subscription.
    """

    webhook_gid: str
    resource_gid: str
    status: HealthStatus
    webhook: Webhook | None = None
    replacement: Subscription | None = None

    @property
    def last_success_at(self) -> datetime | None:
        """When Asana last delivered successfully, if known."""
        return self.webhook.last_success_at if self.webhook else None

    @property
    def failure_deletion_timestamp(self) -> datetime | None:
        """When Asana will delete the webhook unless a delivery succeeds, if it is failing."""
        return self.webhook.failure_deletion_timestamp if self.webhook else None


@dataclass(eq=False, kw_only=True)
class Subscription:
    """A live webhook whose deliveries the hub verifies and routes.

    Attributes:
        webhook: The webhook record from Asana.
        router: The router events go to.
        reused: True when an existing webhook (and stored secret) was reused instead of created.
    """

    webhook: Webhook
    router: Router
    reused: bool = False
    _record: SubscriptionRecord = field(repr=False)
    _hub: Hub = field(repr=False)

    @property
    def webhook_gid(self) -> str:
        """The webhook's gid."""
        return self.webhook.gid

    @property
    def resource_gid(self) -> str:
        """The watched resource's gid."""
        return self._record.resource_gid

    @property
    def target(self) -> str:
        """The URL Asana delivers to (it holds the unguessable path token)."""
        return self._record.target

    async def unsubscribe(self) -> None:
        """Delete the webhook at Asana, then forget its secret and handlers."""
        await self._hub.unsubscribe(self)


def _as_router(handlers: Router | Handler | Sequence[Handler]) -> Router:
    if isinstance(handlers, Router):
        return handlers
    router = Router()
    for handler in [handlers] if callable(handlers) else list(handlers):
        router.add(handler)
    return router


class Hub:
    """Client, receiver and secret store together: subscribe to an Asana resource in one call.

    Example::

        router = Router()

        @router.on("task", action="changed", field="name")
        async def renamed(event: Event) -> None:
            print("renamed", event.resource.gid)

        async with Hub(store=SQLiteStore("secrets.db"),
                       receiver_config=ReceiverConfig(public_url="https://hooks.example.com")) as hub:
            subscription = await hub.subscribe(project_gid, router)
            ...

    The hub starts its receiver on first use unless you pass a ``receiver`` you mounted into your own
    aiohttp application (then you run that application). Leaving the hub does not delete webhooks:
    they and their stored secrets outlive the process, and a later ``subscribe`` for the same
    resource through the same public URL reuses them.

    Args:
        client: An :class:`AsanaClient` to use; by default one is made from ``token`` and
            ``client_config`` (defaulting to ``$ASANA_ACCESS_TOKEN`` and ``$ASANA_BASE_URL``).
        store: Where secrets live. Required: pass ``SQLiteStore`` for durability (the
            recommended default in applications), ``MemoryStore`` for tests.
        receiver: A receiver you mounted yourself; by default one is started from
            ``receiver_config``.
        inbox: Where verified batches wait for their handlers when ``receiver_config.ack_mode``
            is ``AckMode.DURABLE`` (``open_inbox("sqlite:///inbox.db")`` or a Redis URL).
        clock: Seconds since the epoch; injected by tests.
    """

    def __init__(
        self,
        *,
        store: SecretStore,
        client: AsanaClient | None = None,
        token: str | None = None,
        client_config: ClientConfig | None = None,
        receiver: Receiver | None = None,
        receiver_config: ReceiverConfig | None = None,
        inbox: Inbox | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if store is None:
            raise InvalidRequestError("a store is required: SQLiteStore(path) keeps secrets across restarts")
        if client is not None and (token is not None or client_config is not None):
            raise InvalidRequestError("pass either client or token/client_config, not both")
        if receiver is not None and (receiver_config is not None or inbox is not None):
            raise InvalidRequestError("pass either receiver or receiver_config/inbox, not both")
        if receiver is not None and receiver.store is not store:
            # The receiver captures handshakes into its own store; the hub must read that one.
            raise InvalidRequestError("the receiver must use the same store as the hub")
        self._owns_client = client is None
        self._client = client or AsanaClient(token, config=client_config)
        self._store = store
        self._owns_receiver = receiver is None
        self._receiver = receiver or Receiver(
            store, config=receiver_config or ReceiverConfig(), inbox=inbox, clock=clock
        )
        self._receiver.on_delivery = self._on_delivery
        self._receiver_started = not self._owns_receiver
        self._start_lock = anyio.Lock()
        self._clock = clock
        self._routes: dict[str, Router] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self.fallback: Router | None = None
        """Router for verified deliveries to stored webhooks that no subscription in this process
        claims (for example a replica that only serves). Without one such events are answered 503,
        so Asana retries them rather than having them acknowledged and forgotten."""

    @property
    def client(self) -> AsanaClient:
        """The REST client."""
        return self._client

    @property
    def receiver(self) -> Receiver:
        """The receiver answering handshakes and deliveries."""
        return self._receiver

    @property
    def store(self) -> SecretStore:
        """The secret store."""
        return self._store

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions made or reused through this hub and not yet unsubscribed."""
        return list(self._subscriptions.values())

    def __repr__(self) -> str:
        return f"Hub(subscriptions={len(self._subscriptions)}, receiver_started={self._receiver_started})"

    async def __aenter__(self) -> Self:
        if self._owns_client:
            await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the receiver and client the hub owns. Webhooks and secrets stay."""
        with anyio.CancelScope(shield=True):
            if self._owns_receiver and self._receiver_started:
                await self._receiver.aclose()
                self._receiver_started = False
            if self._owns_client:
                await self._client.aclose()

    async def start(self) -> None:
        """Start the embedded receiver now (``subscribe`` does it on first use)."""
        if self._receiver_started:
            return  # the common case on every subscribe: no lock round trip
        async with self._start_lock:
            if not self._receiver_started:
                await self._receiver.start()
                self._receiver_started = True

    async def subscribe(
        self,
        resource: str,
        handlers: Router | Handler | Sequence[Handler],
        *,
        filters: Sequence[FilterInput] | _Derive | None = DERIVE,
        workspace: str | None = None,
    ) -> Subscription:
        """Make sure Asana delivers events on ``resource`` to ``handlers``, in one call.

        Reuses a webhook for the same resource and public URL whose secret the store holds (its
        filters updated if they differ); otherwise creates one, answering the handshake while the
        create is in flight.

        Args:
            resource: The gid of the project, task, workspace... to watch.
            handlers: A :class:`Router`, one handler, or a list of catch-all handlers.
            filters: Asana filters. By default derived from the router so that Asana sends only
                what is handled; ``None`` asks for everything.
            workspace: The resource's workspace gid. When given, webhooks on the resource that
                deliver to this receiver but whose secret the store does not hold (left by a lost
                store, say) are deleted first: their deliveries could never be verified.

        Raises:
            HandshakeNotReceived: Asana's handshake never reached the receiver (the webhook Asana
                made anyway is deleted).
            HandshakeSecretMismatch: The 201's secret differs from the handshake's (deleted too).
            AsanaAPIError: Asana refused the create (``InvalidTarget``, ``DuplicateWebhook``,
                ``LargerScopeFiltersRequired``, ``RateLimited``...).
        """
        if not resource:
            raise InvalidRequestError("resource must be a non-empty gid")
        router = _as_router(handlers)
        if isinstance(filters, _Derive):
            derived = router.filters()
            wanted = request_filters(derived or [])
        else:
            wanted = request_filters(filters or [])
        await self.start()
        if workspace is not None:
            await self._delete_unverifiable(workspace, resource)
        reused = await self._reuse(resource, router, wanted)
        if reused is not None:
            return reused
        return await self._create(resource, router, wanted)

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Delete the subscription's webhook at Asana, then its secret and routes."""
        try:
            await self._client.delete_webhook(subscription.webhook_gid)
        except WebhookNotFound:
            logger.info("webhook %s was already gone at Asana", subscription.webhook_gid)
        await self._forget(subscription._record.token)

    async def health(self, *, repair: bool = False) -> list[HealthReport]:
        """Check every stored subscription's webhook against Asana.

        A webhook Asana deleted (after 24 hours of failed deliveries, or by hand) is reported
        ``DELETED``; with ``repair=True`` and a router bound in this process it is re-subscribed
        (new handshake, new secret) and reported ``REPAIRED``. The :class:`Subscription` the caller
        holds is updated to stand for the new webhook.
        """
        reports: list[HealthReport] = []
        for record in await self._store.list_records():
            if record.webhook_gid is None:
                continue
            reports.append(await self._check(record, repair=repair))
        return reports

    async def _check(self, record: SubscriptionRecord, *, repair: bool) -> HealthReport:
        assert record.webhook_gid is not None
        try:
            webhook = await self._client.get_webhook(record.webhook_gid, opt_fields=_FULL_FIELDS)
        except WebhookNotFound:
            router = self._routes.get(record.token)
            if repair and router is not None:
                stale = self._subscriptions.get(record.token)
                await self._forget(record.token)
                replacement = await self._create(record.resource_gid, router, list(record.filters))
                if stale is not None:
                    # Keep the caller's handle working: it now stands for the new webhook.
                    stale.webhook, stale._record = replacement.webhook, replacement._record
                    self._subscriptions[replacement._record.token] = stale
                    replacement = stale
                return HealthReport(
                    webhook_gid=record.webhook_gid,
                    resource_gid=record.resource_gid,
                    status=HealthStatus.REPAIRED,
                    replacement=replacement,
                )
            return HealthReport(
                webhook_gid=record.webhook_gid,
                resource_gid=record.resource_gid,
                status=HealthStatus.DELETED,
            )
        if webhook.active is False:
            status = HealthStatus.INACTIVE
        elif webhook.failure_deletion_timestamp is not None or (webhook.delivery_retry_count or 0) > 0:
            status = HealthStatus.FAILING
        else:
            status = HealthStatus.OK
        return HealthReport(
            webhook_gid=record.webhook_gid,
            resource_gid=record.resource_gid,
            status=status,
            webhook=webhook,
        )

    async def _reuse(
        self, resource: str, router: Router, wanted: list[dict[str, Any]]
    ) -> Subscription | None:
        prefix = self._receiver.target_prefix
        for record in await self._store.list_records():
            if record.resource_gid != resource or not record.target.startswith(prefix):
                continue
            # A token with routes is bound, or being created by a concurrent subscribe: not ours.
            if record.webhook_gid is None or record.token in self._routes:
                continue
            try:
                webhook = await self._client.get_webhook(record.webhook_gid)
            except WebhookNotFound:
                logger.info("stored webhook %s is gone at Asana; creating a new one", record.webhook_gid)
                await self._store.delete(record.token)
                continue
            if request_filters(webhook.filters or []) != wanted:
                webhook = await self._client.update_webhook(record.webhook_gid, wanted)
            return self._bind(record, webhook, router, reused=True)
        return None

    async def _delete_unverifiable(self, workspace: str, resource: str) -> None:
        prefix = self._receiver.target_prefix
        known = {record.target for record in await self._store.list_records()}
        async for webhook in self._client.list_webhooks(workspace, resource=resource):
            target = webhook.target or ""
            if target.startswith(prefix) and target not in known:
                logger.warning(
                    "deleting webhook %s: it delivers to this receiver but no secret is stored for it",
                    webhook.gid,
                )
                with contextlib.suppress(WebhookNotFound):
                    await self._client.delete_webhook(webhook.gid)

    async def _create(self, resource: str, router: Router, filters: list[dict[str, Any]]) -> Subscription:
        token = new_path_token()
        target = self._receiver.target_for(token)
        expires_at = self._clock() + self._receiver.config.handshake_ttl
        await self._store.add_pending(
            PendingCreate(
                token=token, resource_gid=resource, target=target, filters=filters, expires_at=expires_at
            )
        )
        # Handlers are bound before the create: the first delivery may beat the 201 back.
        self._routes[token] = router
        try:
            # Shielded: once the create is sent, we must learn its outcome to leave nothing
            # half-made, even if the caller is cancelled meanwhile.
            with anyio.CancelScope(shield=True):
                subscription = await self._complete_create(token, resource, target, router, filters)
        except BaseException:
            self._routes.pop(token, None)
            with anyio.CancelScope(shield=True):
                await self._store.clear_pending(token)
            raise
        return subscription

    async def _complete_create(
        self, token: str, resource: str, target: str, router: Router, filters: list[dict[str, Any]]
    ) -> Subscription:
        try:
            created = await self._client.create_webhook(resource, target, filters or None)
        except BaseException:
            # A captured secret without a webhook is useless: drop it.
            await self._store.delete(token)
            raise
        webhook = created.webhook
        record = await self._store.get(token)
        if record is None:
            await self._discard(webhook.gid, token)
            raise HandshakeNotReceived(target)
        if created.secret is not None and created.secret != record.secret:
            await self._discard(webhook.gid, token)
            raise HandshakeSecretMismatch(webhook.gid, target)
        await self._store.attach_webhook(token, webhook.gid)
        await self._store.clear_pending(token)
        return self._bind(dataclasses.replace(record, webhook_gid=webhook.gid), webhook, router, reused=False)

    async def _discard(self, webhook_gid: str, token: str) -> None:
        try:
            await self._client.delete_webhook(webhook_gid)
        except WebhookNotFound:
            pass
        except AsanaHooksError:
            logger.exception("could not delete webhook %s after a failed handshake", webhook_gid)
            raise
        finally:
            await self._store.delete(token)

    def _bind(
        self, record: SubscriptionRecord, webhook: Webhook, router: Router, *, reused: bool
    ) -> Subscription:
        self._routes[record.token] = router
        subscription = Subscription(webhook=webhook, router=router, reused=reused, _record=record, _hub=self)
        self._subscriptions[record.token] = subscription
        return subscription

    async def _forget(self, token: str) -> None:
        self._routes.pop(token, None)
        self._subscriptions.pop(token, None)
        await self._store.delete(token)

    async def _on_delivery(self, record: SubscriptionRecord, delivery: Delivery) -> None:
        router = self._routes.get(record.token) or self.fallback
        if router is None:
            raise DeliveryRefused(f"no handlers are bound for webhook {record.webhook_gid} in this process")
        await router.dispatch_all(delivery.events)
        if delivery.unparsed and not await router.dispatch_unparsed(delivery.unparsed):
            logger.warning(
                "webhook %s: %d event(s) did not fit the event model and no on_unparsed handler took them",
                record.webhook_gid,
                len(delivery.unparsed),
            )
