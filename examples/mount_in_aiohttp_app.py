"""An existing aiohttp service that mounts the webhook receiver beside its own routes.

The service has its own routes (``GET /health``) and runs its own ``AppRunner``; the receiver is one
more sub-application under ``/hooks``, so Asana calls ``{public URL}/hooks/asana/h/{token}``. The
hub is given that receiver (``ReceiverConfig(serve=False, public_url=...)``) and does not serve it.

A service outlives its webhook's first subscription: stopping it leaves the webhook at Asana and its
secret in the SQLite store, and the next start with the same public URL reuses both (no new
handshake). Delete it with ``python -m asana_hooks delete WEBHOOK_GID`` when retiring the service.

Against Asana (a tunnel or proxy forwards the public HTTPS URL to the local port)::

    export ASANA_ACCESS_TOKEN=...                         # a personal access token
    export ASANA_HOOKS_PUBLIC_URL=https://example.trycloudflare.com
    python examples/mount_in_aiohttp_app.py PROJECT_GID --port 8080
    curl http://127.0.0.1:8080/health

Settings: ``ASANA_ACCESS_TOKEN`` (required), the resource gid (argument or ``ASANA_RESOURCE_GID``),
``--public-url`` (or ``ASANA_HOOKS_PUBLIC_URL``; default: the local address, which only the
emulator accepts), ``--base-url`` (or ``ASANA_BASE_URL``), ``--host``, ``--port``, ``--store``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
from aiohttp import web
from anyio.abc import TaskStatus

from asana_hooks import (
    DEFAULT_BASE_URL,
    AsanaHooksError,
    ClientConfig,
    Event,
    Hub,
    Receiver,
    ReceiverConfig,
    Router,
    SQLiteStore,
    Subscription,
)

#: Where the receiver is mounted in the service.
HOOKS_PREFIX = "/hooks"

_log = logging.getLogger("example.service")


@dataclass(frozen=True, kw_only=True)
class Running:
    """The running service, reported to whoever started it.

    Attributes:
        url: The local base URL of the service, e.g. ``http://127.0.0.1:8080``.
        subscription: The webhook subscription.
    """

    url: str
    subscription: Subscription


@dataclass(kw_only=True)
class Stats:
    """What ``/health`` reports."""

    webhook_gid: str | None = None
    events_handled: int = 0


def build_app(receiver: Receiver, stats: Stats) -> web.Application:
    """The service's application: its own routes, and the receiver mounted under ``HOOKS_PREFIX``."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "webhook": stats.webhook_gid, "events_handled": stats.events_handled}
        )

    app = web.Application()
    app.router.add_get("/health", health)
    app.add_subapp(HOOKS_PREFIX, receiver.app)
    return app


def build_router(stats: Stats) -> Router:
    """The service's event handlers: every task event is counted."""
    router = Router()

    @router.on("task")
    async def on_task(event: Event) -> None:
        stats.events_handled += 1
        _log.info("task %s %s", event.resource.gid, event.action)

    return router


async def main(
    resource: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    host: str = "127.0.0.1",
    port: int = 8080,
    public_url: str | None = None,
    store_path: str | os.PathLike[str] = "asana-hooks-secrets.sqlite3",
    stop: anyio.Event | None = None,
    task_status: TaskStatus[Running] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the application with the receiver mounted, subscribed to ``resource``, until ``stop``.

    Args:
        resource: The project (or task) gid to watch.
        token: An Asana access token; None reads ``ASANA_ACCESS_TOKEN``.
        base_url: The API root (Asana's, or an emulator's).
        host: The interface to listen on.
        port: The port to listen on; 0 picks a free one (see :attr:`Running.url`).
        public_url: The service's URL as Asana reaches it; None: the local address.
        store_path: The SQLite file holding webhook secrets.
        stop: Set it to stop the service; None runs until cancelled (Ctrl-C).
        task_status: Reports the running service once subscribed (for ``TaskGroup.start``).
    """
    # Bound before anything else so that port 0 yields the real port for the receiver's public URL,
    # which the receiver needs at construction time.
    sock = socket.create_server((host, port))
    try:
        where = f"[{host}]" if ":" in host else host
        local_url = f"http://{where}:{sock.getsockname()[1]}"
        stats = Stats()
        async with SQLiteStore(store_path) as store:
            hooks_url = (public_url or local_url).rstrip("/") + HOOKS_PREFIX
            receiver = Receiver(store, config=ReceiverConfig(serve=False, public_url=hooks_url))
            async with Hub(
                store=store, receiver=receiver, token=token, client_config=ClientConfig(base_url=base_url)
            ) as hub:
                # No access log: it would print each request's path, and the path holds the token.
                runner = web.AppRunner(build_app(receiver, stats), access_log=None)
                await runner.setup()
                try:
                    await web.SockSite(runner, sock).start()
                    subscription = await hub.subscribe(resource, build_router(stats))
                    stats.webhook_gid = subscription.webhook_gid
                    state = "reused" if subscription.reused else "created"
                    print(f"serving {local_url}; webhook {subscription.webhook_gid} {state}", flush=True)
                    task_status.started(Running(url=local_url, subscription=subscription))
                    if stop is None:
                        await anyio.sleep_forever()
                    else:
                        await stop.wait()
                finally:
                    # Stops serving while the hub is still open; the receiver's shutdown hook lets
                    # in-flight deliveries finish first.
                    with anyio.CancelScope(shield=True):
                        await runner.cleanup()
    finally:
        sock.close()


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and environment, run the service, and return the exit status."""
    parser = argparse.ArgumentParser(
        description="An aiohttp service with its own routes and the Asana webhook receiver mounted.",
        epilog="The token is read from ASANA_ACCESS_TOKEN, never from the command line.",
    )
    parser.add_argument("resource", nargs="?", default=os.environ.get("ASANA_RESOURCE_GID"))
    parser.add_argument("--public-url", default=os.environ.get("ASANA_HOOKS_PUBLIC_URL"))
    parser.add_argument("--base-url", default=os.environ.get("ASANA_BASE_URL", DEFAULT_BASE_URL))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="local port of the service (0: any)")
    parser.add_argument("--store", type=Path, default=Path("asana-hooks-secrets.sqlite3"))
    args = parser.parse_args(argv)
    if not args.resource:
        parser.error("give the gid of the resource to watch, or set ASANA_RESOURCE_GID")
    if not os.environ.get("ASANA_ACCESS_TOKEN"):
        parser.error("set ASANA_ACCESS_TOKEN to an Asana personal access token")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run = partial(
        main,
        args.resource,
        base_url=args.base_url,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        store_path=args.store,
    )
    try:
        anyio.run(run)
    except KeyboardInterrupt:
        return 130
    except (AsanaHooksError, OSError) as error:
        print(" ".join(["error:", str(error), *getattr(error, "__notes__", [])]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
