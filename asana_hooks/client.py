"""The typed async client for Asana's Webhooks API, on aiohttp.

It adds I/O and waiting to the sans-I/O core: :mod:`asana_hooks.api_requests` builds and decodes,
:mod:`asana_hooks.backoff` decides retries and delays. This module sends, sleeps (through an injected
``sleep``, so tests never wait), caps concurrency and wraps transport failures.

Concurrency is capped per client (Asana's limits are per token: 15 writes and 50 reads in flight), so
share one client per token. A slot is released while sleeping before a retry.
"""

from __future__ import annotations

import json
import logging
import os
import random as _random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from importlib import metadata
from types import TracebackType
from typing import Any, Self, cast

import aiohttp
import anyio
from multidict import CIMultiDictProxy

from asana_hooks.api_requests import (
    CreatedWebhook,
    FilterInput,
    RequestSpec,
    UnexpectedResponse,
    WebhookPage,
    api_request,
    create_webhook_request,
    decode_created_webhook,
    decode_envelope,
    decode_webhook,
    decode_webhook_page,
    delete_webhook_request,
    get_webhook_request,
    list_webhooks_request,
    update_webhook_request,
)
from asana_hooks.backoff import SAFE_METHODS, retry_delay, should_retry
from asana_hooks.config import DEFAULT_BASE_URL, ClientConfig
from asana_hooks.errors import (
    AsanaAPIError,
    InvalidRequestError,
    InvalidTarget,
    RateLimited,
    RequestTimeout,
    TransportError,
)
from asana_hooks.models import Webhook

__all__ = ["BASE_URL_ENV_VAR", "TOKEN_ENV_VAR", "AsanaClient", "user_agent"]

#: Environment variable read when no token is passed.
TOKEN_ENV_VAR = "ASANA_ACCESS_TOKEN"  # noqa: S105 (a variable name, not a secret)

_log = logging.getLogger("asana_hooks.client")
#: Read when no ``config`` is given, so the same program can run against the emulator offline.
BASE_URL_ENV_VAR = "ASANA_BASE_URL"


def _default_config() -> ClientConfig:
    try:
        return ClientConfig(base_url=os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL)
    except ValueError as exc:
        raise InvalidRequestError(f"${BASE_URL_ENV_VAR} is not usable: {exc}") from None


def user_agent() -> str:
    """The ``User-Agent`` sent with every request: ``asana-hooks/<installed version>``."""
    try:
        return f"asana-hooks/{metadata.version('asana-hooks')}"
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "asana-hooks"


class _Token:
    """Holds the access token so that no repr, str or ``vars()`` dump can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


def _resolve_token(token: str | None) -> _Token:
    value = token if token is not None else os.environ.get(TOKEN_ENV_VAR)
    if not value:
        raise InvalidRequestError(f"no Asana access token: pass token= or set {TOKEN_ENV_VAR}")
    # Whitespace or control characters would corrupt the Authorization header (or split it).
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidRequestError("the Asana access token contains whitespace or control characters")
    return _Token(value)


def _reason(exc: aiohttp.ClientError) -> str:
    """The error's kind, with the OS's words when there are some (never URLs, headers or bodies)."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.strerror:
        return f"{type(exc).__name__} ({os_error.strerror.lower()})"
    return type(exc).__name__


class AsanaClient:
    """Async client for Asana's Webhooks API (and any other route through :meth:`request_json`).

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with AsanaClient() as client:          # token from ASANA_ACCESS_TOKEN
            async for webhook in client.list_webhooks("1100000000000001"):
                print(webhook.gid, webhook.target)

    Args:
        token: A personal access token or OAuth token; defaults to ``$ASANA_ACCESS_TOKEN``.
        config: Base URL, timeouts, concurrency caps and retry policy. Without one, the defaults
            with the base URL from ``$ASANA_BASE_URL`` (e.g. the emulator's) or else Asana's.
        session: An aiohttp session to use; the client then never closes it. Without one, the
            client creates its own on first use and closes it in :meth:`aclose`.
        sleep: Awaited with the delay before each retry (tests pass a recorder that returns at once).
        random: Returns a value in ``[0, 1)`` for backoff jitter.

    Raises:
        InvalidRequestError: When no usable token is given or found in the environment.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        config: ClientConfig | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._token = _resolve_token(token)
        config = config if config is not None else _default_config()
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._sleep = sleep
        self._random = random
        self._timeout = aiohttp.ClientTimeout(total=config.timeout, connect=config.connect_timeout)
        self._writes = anyio.Semaphore(config.max_concurrent_writes)
        self._reads = anyio.Semaphore(config.max_concurrent_reads)
        self._user_agent = user_agent()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._config.base_url!r}, token=<redacted>)"

    @property
    def config(self) -> ClientConfig:
        """The client's configuration."""
        return self._config

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if the client created it; an injected session is left open."""
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise InvalidRequestError("this AsanaClient is closed")
        if self._session is None:
            # Created lazily: an aiohttp session must be made inside the running event loop.
            self._session = aiohttp.ClientSession()
        return self._session

    # -- webhook operations ---------------------------------------------------------------------

    async def create_webhook(
        self,
        resource: str | Mapping[str, Any],
        target: str | None = None,
        filters: Sequence[FilterInput] | None = None,
        *,
        opt_fields: Sequence[str] | None = None,
        opt_pretty: bool = False,
    ) -> CreatedWebhook:
        """Create a webhook (``POST /webhooks``). Asana answers only after its handshake completed.

        This sends the request only: answering the handshake is the receiver's job (see the hub).

        Args:
            resource: The gid to watch, or a mapping with ``resource``/``target``/``filters``, bare or
                wrapped once in ``{"data": ...}``.
            target: The URL Asana delivers to (with a gid only).
            filters: Optional allow-list (required for workspaces, teams and portfolios).
            opt_fields: Extra fields to return.
            opt_pretty: Ask for pretty-printed JSON.

        Returns:
            The webhook and the ``X-Hook-Secret`` of the 201 body.

        Raises:
            InvalidRequestError: Refused locally (see :func:`create_webhook_request`).
            InvalidTarget: Asana will not call the target (e.g. localhost).
            DuplicateWebhook: Same resource and target exist already.
            LargerScopeFiltersRequired: Missing or disallowed filters on a large-scope resource.
            RateLimited: Still refused after the retries.
            AsanaAPIError: Any other error status.
            TransportError: The exchange failed (writes are not retried).
        """
        spec = create_webhook_request(resource, target, filters, opt_fields=opt_fields, opt_pretty=opt_pretty)
        try:
            envelope = await self._call(spec)
        except InvalidTarget as error:
            # Asana's message need not name the URL; the note does (target URLs are not secret).
            fields = cast(dict[str, Any], spec.json_body)["data"]
            error.add_note(
                f"Asana will not deliver to the target {fields['target']}: it must be a public "
                "HTTPS URL reachable from the internet (use a tunnel when developing locally)"
            )
            raise
        return decode_created_webhook(envelope, method=spec.method, path=spec.path)

    async def get_webhook(
        self, webhook_gid: str, *, opt_fields: Sequence[str] | None = None, opt_pretty: bool = False
    ) -> Webhook:
        """Fetch a webhook's full record (``GET /webhooks/{gid}``).

        Raises:
            WebhookNotFound: It was deleted (by you, or by Asana after 24 h of failed deliveries).
        """
        spec = get_webhook_request(webhook_gid, opt_fields=opt_fields, opt_pretty=opt_pretty)
        envelope = await self._call(spec)
        return decode_webhook(envelope["data"], method=spec.method, path=spec.path)

    async def list_webhook_page(
        self,
        workspace: str,
        *,
        resource: str | None = None,
        limit: int = 100,
        offset: str | None = None,
        opt_fields: Sequence[str] | None = None,
        opt_pretty: bool = False,
    ) -> WebhookPage:
        """Fetch one page of ``GET /webhooks``; pass the previous page's ``next_offset`` for the next.

        Raises:
            InvalidRequestError: Missing workspace or ``limit`` outside 1..100 (nothing is sent).
        """
        spec = list_webhooks_request(
            workspace,
            resource=resource,
            limit=limit,
            offset=offset,
            opt_fields=opt_fields,
            opt_pretty=opt_pretty,
        )
        envelope = await self._call(spec)
        return decode_webhook_page(envelope, method=spec.method, path=spec.path)

    def list_webhooks(
        self,
        workspace: str,
        *,
        resource: str | None = None,
        limit: int = 100,
        opt_fields: Sequence[str] | None = None,
        opt_pretty: bool = False,
    ) -> AsyncIterator[Webhook]:
        """Iterate over every webhook of the workspace, following ``next_page.offset`` to the end.

        The arguments are checked here, before the first request; ``opt_fields`` and ``opt_pretty``
        are sent on every page.

        Args:
            workspace: The workspace gid (required by Asana).
            resource: Only webhooks on this resource gid.
            limit: Page size, 1..100.
            opt_fields: Extra fields to return.
            opt_pretty: Ask for pretty-printed JSON.

        Raises:
            InvalidRequestError: At the call, for a missing workspace or ``limit`` outside 1..100.
        """
        options: dict[str, Any] = {
            "resource": resource,
            "limit": limit,
            "opt_fields": opt_fields,
            "opt_pretty": opt_pretty,
        }
        first = list_webhooks_request(workspace, **options)
        return self._iterate_webhooks(first, workspace, options)

    async def _iterate_webhooks(
        self, spec: RequestSpec, workspace: str, options: dict[str, Any]
    ) -> AsyncIterator[Webhook]:
        seen_offsets: set[str] = set()
        while True:
            envelope = await self._call(spec)
            page = decode_webhook_page(envelope, method=spec.method, path=spec.path)
            for webhook in page.webhooks:
                yield webhook
            if page.next_offset is None:
                return
            # A server handing out an offset twice would keep us paging forever.
            if page.next_offset in seen_offsets:
                raise UnexpectedResponse(
                    200,
                    [{"message": "next_page.offset repeats an earlier page's offset"}],
                    method=spec.method,
                    path=spec.path,
                )
            seen_offsets.add(page.next_offset)
            spec = list_webhooks_request(workspace, offset=page.next_offset, **options)

    async def update_webhook(
        self,
        webhook_gid: str,
        filters: Sequence[FilterInput],
        *,
        opt_fields: Sequence[str] | None = None,
        opt_pretty: bool = False,
    ) -> Webhook:
        """Replace a webhook's filters (``PUT /webhooks/{gid}``); resource and target cannot change.

        Raises:
            WebhookNotFound: No such webhook.
        """
        spec = update_webhook_request(webhook_gid, filters, opt_fields=opt_fields, opt_pretty=opt_pretty)
        envelope = await self._call(spec)
        return decode_webhook(envelope["data"], method=spec.method, path=spec.path)

    async def delete_webhook(self, webhook_gid: str, *, opt_pretty: bool = False) -> None:
        """Delete a webhook (``DELETE /webhooks/{gid}``).

        Raises:
            WebhookNotFound: No such webhook (already deleted).
        """
        await self._call(delete_webhook_request(webhook_gid, opt_pretty=opt_pretty))

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call any route (``GET /users/me``, ``POST /tasks`` ...) with the same envelope, retries and
        errors as the webhook operations.

        Args:
            method: HTTP method.
            path: API path below the base URL, e.g. ``/users/me``.
            params: Query parameters.
            data: Request fields, enveloped in ``{"data": ...}`` by the client (refused on GET/DELETE).

        Returns:
            The decoded ``data`` member of the response.
        """
        spec = api_request(method, path, params=params, data=data)
        envelope = await self._call(spec)
        return envelope["data"]

    # -- sending ----------------------------------------------------------------------------------

    async def _call(self, spec: RequestSpec) -> dict[str, Any]:
        policy = self._config.retry
        limiter = self._reads if spec.method in SAFE_METHODS else self._writes
        attempt = 0
        while True:
            attempt += 1
            try:
                async with limiter:
                    status, body, headers = await self._exchange(spec, attempt)
            except TransportError:
                if not should_retry(policy, spec.method, attempt, connection_error=True):
                    raise
                delay = retry_delay(policy, attempt, None, self._random())
                _log.debug("%s %s: transport error, retrying in %.3f s", spec.method, spec.path, delay)
            else:
                try:
                    return decode_envelope(status, body, headers, spec.method, spec.path)
                except AsanaAPIError as error:
                    retry_after = error.retry_after if isinstance(error, RateLimited) else None
                    if not should_retry(policy, spec.method, attempt, status=status, retry_after=retry_after):
                        raise
                    delay = retry_delay(policy, attempt, retry_after, self._random())
                    _log.debug("%s %s: %d, retrying in %.3f s", spec.method, spec.path, status, delay)
            # Sleeping outside the limiter frees the slot for other requests meanwhile.
            await self._sleep(delay)

    async def _exchange(self, spec: RequestSpec, attempt: int) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        session = self._ensure_session()
        headers = {
            "Authorization": f"Bearer {self._token.reveal()}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        data: bytes | None = None
        if spec.json_body is not None:
            # Compact JSON, as Asana's own clients send it.
            data = json.dumps(spec.json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                spec.method,
                self._base_url + spec.path,
                params=list(spec.query),
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # a redirect to another host must not carry the token
            ) as response:
                body = await response.read()
                _log.debug("%s %s -> %d (attempt %d)", spec.method, spec.path, response.status, attempt)
                return response.status, body, response.headers
        except TimeoutError as exc:  # aiohttp's own timeouts subclass TimeoutError too
            _log.debug("%s %s -> timeout (attempt %d)", spec.method, spec.path, attempt)
            raise RequestTimeout(f"{spec.method} {spec.path} timed out") from exc
        except aiohttp.ClientError as exc:
            _log.debug("%s %s -> %s (attempt %d)", spec.method, spec.path, type(exc).__name__, attempt)
            raise TransportError(f"{spec.method} {spec.path} failed: {_reason(exc)}") from exc
