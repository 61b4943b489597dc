"""A scriptable stand-in for Asana's REST API, for client tests.

Each test queues the replies it wants per ``(method, path)``; the server answers requests in order and
records every request (method, path, query, headers, raw body) with the reply it got, so that tests
can assert the exact wire traffic and check all of it against Asana's OpenAPI spec afterwards.

It binds 127.0.0.1 on port 0; the base URL it reports ends in ``/api/1.0`` like Asana's.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import anyio
from aiohttp import web

API_ROOT = "/api/1.0"


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: HTTP status.
        body: Raw body bytes.
        headers: Extra response headers.
        conformant: Whether the body is meant to fit Asana's spec (checked after the test);
            False for deliberately broken bodies such as HTML from a proxy.
        hold: Keep the request open until :meth:`FakeAsana.release` (or the server closes).
        disconnect: Drop the connection without answering.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    conformant: bool = True
    hold: bool = False
    disconnect: bool = False


@dataclass(frozen=True, kw_only=True)
class Received:
    """One request as the server saw it.

    Attributes:
        method: HTTP method.
        path: Path below ``/api/1.0`` (e.g. ``/webhooks``).
        query: Decoded query pairs, in order.
        url: The full URL, query included.
        headers: Request headers, as sent.
        body: Raw body bytes (empty when none).
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    url: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes, as Asana sends them."""
    return json.dumps(payload, separators=(",", ":")).encode()


class FakeAsana:
    """The scripted server. Use as an async context manager."""

    def __init__(self) -> None:
        self._replies: defaultdict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.exchanges: list[tuple[Received, Reply]] = []
        self.unscripted: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._release = anyio.Event()
        self._in_flight_waiters: list[tuple[int, anyio.Event]] = []
        self._request_waiters: list[tuple[int, anyio.Event]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The API root to give the client, e.g. ``http://127.0.0.1:41234/api/1.0``."""
        return f"http://127.0.0.1:{self.port}{API_ROOT}"

    @property
    def requests(self) -> list[Received]:
        """Every request received, in order (unscripted ones included)."""
        return [received for received, _ in self.exchanges] + self.unscripted

    def script(
        self,
        method: str,
        path: str,
        status: int = 200,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        conformant: bool = True,
        hold: bool = False,
        disconnect: bool = False,
        times: int = 1,
    ) -> None:
        """Queue ``times`` identical replies to ``method path`` (path below ``/api/1.0``).

        The body is ``raw`` when given, else ``payload`` as compact JSON, else empty.
        """
        body = raw if raw is not None else (b"" if payload is None else dumps(payload))
        reply = Reply(
            status=status,
            body=body,
            headers=dict(headers or {}),
            conformant=conformant,
            hold=hold,
            disconnect=disconnect,
        )
        self._replies[(method.upper(), path)].extend([reply] * times)

    def release(self) -> None:
        """Let every held request (present and future) be answered."""
        self._release.set()

    async def wait_for_requests(self, count: int) -> None:
        """Return once at least ``count`` scripted requests have been received."""
        if len(self.exchanges) >= count:
            return
        event = anyio.Event()
        self._request_waiters.append((count, event))
        await event.wait()

    async def wait_in_flight(self, count: int) -> None:
        """Return once at least ``count`` requests are held open at the same time."""
        if self.in_flight >= count:
            return
        event = anyio.Event()
        self._in_flight_waiters.append((count, event))
        await event.wait()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            method=request.method,
            path=request.path.removeprefix(API_ROOT),
            query=tuple(request.rel_url.query.items()),
            url=str(request.url),
            headers=dict(request.headers),
            body=await request.read(),
        )
        queue = self._replies.get((received.method, received.path))
        if not queue:
            self.unscripted.append(received)
            return web.json_response(
                {"errors": [{"message": f"no reply scripted for {received.method} {received.path}"}]},
                status=404,
            )
        reply = queue.popleft()
        self.exchanges.append((received, reply))
        for count, event in self._request_waiters:
            if len(self.exchanges) >= count:
                event.set()
        if reply.hold:
            await self._hold()
        if reply.disconnect:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        return web.Response(status=reply.status, body=reply.body, headers=self._headers(reply))

    async def _hold(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        for count, event in self._in_flight_waiters:
            if self.in_flight >= count:
                event.set()
        try:
            await self._release.wait()
        finally:
            self.in_flight -= 1

    @staticmethod
    def _headers(reply: Reply) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if reply.body.startswith((b"{", b"[")) else {}
        headers.update(reply.headers)
        return headers

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]  # port 0 was asked: read the real one back
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release held requests and stop the server."""
        self.release()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
