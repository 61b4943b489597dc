"""The servers benchmarks run against, in-process or as ``python3 benchmarks/servers.py KIND``.

Kinds (each binds 127.0.0.1 on a free port, prints ``READY <url>`` and serves until stdin closes):

* ``bare``: an aiohttp handler that reads the body and answers 200 (the throughput ceiling).
* ``receiver``: asana_hooks' Receiver with its default config (verify, parse, dedupe, route to a
  no-op handler through a Router), one subscription whose secret is ``$BENCH_HOOK_SECRET``.
* ``flask``: the stack of Asana's own Python example: Flask on werkzeug's threaded server, HMAC
  check of the raw body, ``json.loads``, a loop over the events.
* ``emulator``: asana_hooks' emulator (``--rate-limit`` requests per minute, token
  ``$BENCH_EMULATOR_TOKEN``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from typing import Any

import anyio
from aiohttp import web
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from asana_hooks import Event, MemoryStore, Receiver, Router
from asana_hooks.deliveries import Delivery
from asana_hooks.emulator import Emulator
from asana_hooks.handshake import PendingCreate, SubscriptionRecord

__all__ = ["echo_app", "flask_app", "serve_flask", "serve_site"]

SECRET_HEADER = "X-Hook-Secret"  # noqa: S105 - a header name


# -- aiohttp baselines ---------------------------------------------------------------------------


async def _bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


def bare_app() -> web.Application:
    """Reads the body, answers 200: what any receiver costs at least."""
    app = web.Application()
    app.router.add_post("/hook", _bare)
    return app


async def _echo(request: web.Request) -> web.Response:
    secret = request.headers.get(SECRET_HEADER)
    if secret is not None:
        return web.Response(status=200, headers={SECRET_HEADER: secret})
    await request.read()
    return web.Response(status=200)


def echo_app() -> web.Application:
    """The floor of a create: echoes any handshake, answers any delivery 200 unchecked."""
    app = web.Application()
    app.router.add_post("/f/{key}", _echo)
    return app


async def serve_site(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on 127.0.0.1, a free port, without access log; return the runner and base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


# -- Flask, as in Asana's example ------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """No per-request log line: the aiohttp servers run without access log too."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _handle(event: Any) -> None:
    return None


def flask_app(secrets_by_key: dict[str, str]) -> Flask:
    """Asana's Python webhook example, minus logging: handshake echo, HMAC check, json.loads."""
    app = Flask("asana_webhook_receiver")

    @app.post("/receive-webhook/<key>")
    def receive_webhook(key: str) -> Response:
        if SECRET_HEADER in request.headers:
            handshake = request.headers[SECRET_HEADER]
            secrets_by_key[key] = handshake
            return Response(status=200, headers={SECRET_HEADER: handshake})
        secret = secrets_by_key.get(key)
        if secret is None:
            return Response(status=401)
        signature = hmac.new(secret.encode("ascii", "ignore"), request.data, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, request.headers.get("X-Hook-Signature", "")):
            return Response(status=401)
        contents = json.loads(request.data)
        for event in contents["events"]:
            _handle(event)  # the example logs each event here
        return Response(status=200)

    return app


def serve_flask(app: Flask) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` on 127.0.0.1, a free port (call serve_forever)."""
    return make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)


# -- our receiver --------------------------------------------------------------------------------


async def _noop(event: Event) -> None:
    return None


async def subscribed_receiver(secret: str) -> tuple[Receiver, str]:
    """A started Receiver with one subscription under ``secret``; returns it and the target URL.

    The caller closes it (``aclose``).
    """
    store = MemoryStore()
    router = Router()
    router.add(_noop)

    async def on_delivery(record: SubscriptionRecord, delivery: Delivery) -> None:
        await router.dispatch_all(delivery.events)  # what Hub does for a claimed delivery

    receiver = Receiver(store, on_delivery=on_delivery)
    await receiver.start()
    token = "benchmarkpathtoken000000000000000"  # noqa: S105 - a path token, not a credential
    target = receiver.target_for(token)
    now = time.time()
    pending = PendingCreate(
        token=token, resource_gid="1208765432100001", target=target, filters=[], expires_at=now + 60
    )
    await store.add_pending(pending)
    await store.capture_handshake(token, secret, now)
    await store.attach_webhook(token, "1200000000000999")
    await store.clear_pending(token)
    return receiver, target


# -- subprocess entry point ----------------------------------------------------------------------


async def _until_stdin_closes() -> None:
    await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)


async def _serve_async(kind: str, rate_limit: int) -> None:
    if kind == "bare":
        runner, base = await serve_site(bare_app())
        print(f"READY {base}/hook", flush=True)
        try:
            await _until_stdin_closes()
        finally:
            await runner.cleanup()
    elif kind == "receiver":
        receiver, target = await subscribed_receiver(os.environ["BENCH_HOOK_SECRET"])
        try:
            print(f"READY {target}", flush=True)
            await _until_stdin_closes()
        finally:
            await receiver.aclose()
    elif kind == "emulator":
        emulator = Emulator(token=os.environ["BENCH_EMULATOR_TOKEN"], rate_limit_per_minute=rate_limit)
        async with emulator:
            print(f"READY {emulator.base_url}", flush=True)
            await _until_stdin_closes()
    else:
        raise SystemExit(f"unknown kind {kind!r}")


def _serve_flask_process() -> None:
    secret = os.environ["BENCH_HOOK_SECRET"]
    server = serve_flask(flask_app({"bench": secret}))

    def stop_at_eof() -> None:
        sys.stdin.buffer.read()
        server.shutdown()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    print(f"READY http://127.0.0.1:{server.server_port}/receive-webhook/bench", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Serve one kind of server until stdin closes."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["bare", "receiver", "flask", "emulator"])
    parser.add_argument("--rate-limit", type=int, default=1500, help="emulator requests per minute")
    args: Any = parser.parse_args(argv)
    if args.kind == "flask":
        _serve_flask_process()
    else:
        anyio.run(_serve_async, args.kind, args.rate_limit)


if __name__ == "__main__":
    main()
