"""A plain aiohttp webhook target for the emulator's tests: answers handshakes, records everything.

It deliberately shares no code with asana_hooks: the tests check the emulator against aiohttp and
hmac directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Self

import anyio
from aiohttp import web
from multidict import CIMultiDict

SAME = "same"


@dataclass(frozen=True, kw_only=True)
class Received:
    """One request the target got."""

    path_qs: str
    headers: CIMultiDict[str]
    body: bytes


class TargetServer:
    """Serves ``/hook/{token}`` on 127.0.0.1, port 0.

    Attributes:
        handshake_status: Status for handshakes.
        echo: ``SAME`` echoes `X-Hook-Secret`; None sends no header; any other text is sent instead.
        delivery_statuses: Statuses for the next deliveries, used up in order; then `delivery_status`.
        delivery_status: Status for deliveries once `delivery_statuses` is empty.
        refuse_handshakes_after_first: Answer 403 to any handshake after the first (a careful receiver).
        hold: When an unset event, handshakes and deliveries wait for it before answering.
        drop_connections: Close every connection without answering.
    """

    def __init__(self) -> None:
        self.handshake_status = 200
        self.echo: str | None = SAME
        self.delivery_statuses: list[int] = []
        self.delivery_status = 200
        self.refuse_handshakes_after_first = False
        self.hold: anyio.Event | None = None
        self.drop_connections = False
        self.handshakes: list[Received] = []
        self.deliveries: list[Received] = []
        self._arrival = anyio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, slug: str = "t1", query: str = "") -> str:
        """The target URL for a path token `slug` (and optional query string)."""
        suffix = f"?{query}" if query else ""
        return f"http://127.0.0.1:{self.port}/hook/{slug}{suffix}"

    async def wait_for_handshakes(self, count: int) -> None:
        """Return once `count` handshakes have arrived (answered or held)."""
        while len(self.handshakes) < count:
            await self._arrival.wait()

    async def wait_for_deliveries(self, count: int) -> None:
        """Return once `count` deliveries have arrived (answered or held)."""
        while len(self.deliveries) < count:
            await self._arrival.wait()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            path_qs=request.path_qs, headers=CIMultiDict(request.headers), body=await request.read()
        )
        secret = request.headers.get("X-Hook-Secret")
        is_handshake = secret is not None
        (self.handshakes if is_handshake else self.deliveries).append(received)
        self._arrival.set()
        self._arrival = anyio.Event()
        if self.hold is not None:
            await self.hold.wait()
        if self.drop_connections and request.transport is not None:
            request.transport.close()
            raise web.HTTPServiceUnavailable()
        if is_handshake:
            if self.refuse_handshakes_after_first and len(self.handshakes) > 1:
                return web.Response(status=403, text="no create pending")
            headers: dict[str, str] = {}
            if secret is not None and self.echo is not None:
                headers["X-Hook-Secret"] = secret if self.echo == SAME else self.echo
            return web.Response(status=self.handshake_status, headers=headers)
        status = self.delivery_statuses.pop(0) if self.delivery_statuses else self.delivery_status
        return web.Response(status=status, text="" if status in (200, 204) else "receiver says no")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hook/{token}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        """Stop serving."""
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
