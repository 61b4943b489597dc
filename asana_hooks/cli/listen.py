"""``listen``: run a receiver, subscribe in one call, stream verified events as JSON lines.

stdout carries one ``{"webhook_gid": ..., "event": {...}}`` line per verified event, the event exactly
as Asana sent it (unknown keys included), so that it can be piped into ``jq`` or another program;
everything for the person at the terminal goes to stderr. The first SIGINT/SIGTERM deletes the
webhook (unless ``--keep``) and exits 0; a second one quits at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio

from asana_hooks.cli.exit_codes import CommandFailed, ExitCode
from asana_hooks.cli.output import diagnostic, print_json, silence_stdout
from asana_hooks.cli.settings import client_config, default_store_url, parse_filter, read_token
from asana_hooks.cli.stop_signals import STOP_SIGNALS
from asana_hooks.client import AsanaClient
from asana_hooks.config import ReceiverConfig
from asana_hooks.errors import DeliveryRefused, HandshakeFailed, InvalidRequestError, InvalidTarget
from asana_hooks.hub import Hub, Subscription
from asana_hooks.models import Event, WebhookFilter
from asana_hooks.routing import Router
from asana_hooks.stores import open_store

__all__ = ["run_listen"]


def _receiver_config(args: argparse.Namespace) -> ReceiverConfig:
    try:
        return ReceiverConfig(host=args.host, port=args.port, public_url=args.public_url)
    except ValueError as exc:
        raise InvalidRequestError(f"bad --host, --port or --public-url: {exc}") from None


class _Stop:
    """The first signal asks for a clean stop; a second one cancels ``scope`` (no clean-up)."""

    def __init__(self) -> None:
        self.requested = anyio.Event()
        self.scope = anyio.CancelScope()

    async def watch(self, signals: AsyncIterator[int]) -> None:
        async for number in signals:
            name = signal.Signals(number).name
            if not self.requested.is_set():
                diagnostic(f"received {name}: stopping")
                self.requested.set()
            else:
                diagnostic(f"received {name} again: quitting without clean-up")
                self.scope.cancel()
                # A create in flight is shielded until Asana answers (up to the client timeout);
                # the person asked twice, so leave now rather than wait for it.
                sys.stdout.flush()
                os._exit(ExitCode.INTERRUPTED)


async def _start(hub: Hub, config: ReceiverConfig) -> None:
    try:
        await hub.start()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandFailed(
            f"cannot listen on {config.host}:{config.port}: {reason}; pick another --host/--port",
            ExitCode.BIND,
        ) from None


def _tunnel_note(error: InvalidTarget, hub: Hub, public_url: str | None) -> None:
    if public_url is None:
        local = hub.receiver.base_url
        error.add_note(
            f"pass --public-url with a public HTTPS URL that forwards to this receiver at {local}, "
            f"e.g. a tunnel's (cloudflared tunnel --url {local}, or ngrok http {local.rsplit(':', 1)[-1]})"
        )
    else:
        error.add_note(f"--public-url {public_url} was refused: it must be public HTTPS reachable by Asana")


async def run_listen(args: argparse.Namespace) -> int:
    """Subscribe to ``--resource`` and print ``{"webhook_gid", "event"}`` lines until a signal."""
    filters: list[WebhookFilter] | None = [parse_filter(text) for text in args.filter or []] or None
    receiver_config = _receiver_config(args)
    config = client_config(args.base_url)
    token = await read_token(args.token_file)
    if args.keep and (args.store or "").strip().lower() == "memory:":
        raise InvalidRequestError(
            "--keep with --store memory: would leave a webhook whose secret dies with this process; "
            "use a durable store (sqlite:///path, the default) or drop --keep"
        )
    store = open_store(args.store or default_store_url())
    stop = _Stop()
    ready = anyio.Event()
    subscription: Subscription | None = None

    async def forward(event: Event) -> None:
        await forward_raw(event.raw)

    async def forward_raw(raw: Any) -> None:
        # Events can beat the 201 back; wait for the gid (ms) rather than print them without it.
        await ready.wait()
        assert subscription is not None
        try:
            print_json({"webhook_gid": subscription.webhook_gid, "event": raw})
        except BrokenPipeError:
            # Nobody reads any more (``listen | head -1``): stop, and refuse the batch with 503 so
            # Asana keeps it for whoever listens next; not a handler bug, so no traceback.
            silence_stdout()
            stop.requested.set()
            raise DeliveryRefused("stdout was closed; this listener is stopping") from None

    router = Router()
    router.add(forward)
    # Events that do not fit the model are still Asana's: print them as sent rather than drop them.
    router.on_unparsed(forward_raw)
    # Signals are caught from the start, so that one arriving mid-subscribe still cleans up after it.
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals, stop.scope:
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(stop.watch, signals)
            async with (
                store,
                AsanaClient(token, config=config) as client,
                Hub(store=store, client=client, receiver_config=receiver_config) as hub,
            ):
                await _start(hub, receiver_config)
                try:
                    subscription = await hub.subscribe(args.resource, router, filters=filters)
                except InvalidTarget as error:
                    _tunnel_note(error, hub, args.public_url)
                    raise
                except HandshakeFailed as error:
                    error.add_note(
                        f"Asana could not reach this receiver at {hub.receiver.public_url}; "
                        "check that --public-url (or the tunnel) forwards to it"
                    )
                    raise
                ready.set()
                verb = "reusing" if subscription.reused else "created"
                diagnostic(
                    f"listening: {verb} webhook {subscription.webhook_gid} on resource {args.resource}; "
                    f"Asana delivers to {subscription.target.rsplit('/', 1)[0]}/<token>; "
                    "stop with Ctrl-C"
                )
                await stop.requested.wait()
                await _finish(subscription, keep=args.keep)
            watchers.cancel_scope.cancel()
    return ExitCode.INTERRUPTED if stop.scope.cancelled_caught else ExitCode.OK


async def _finish(subscription: Subscription, *, keep: bool) -> None:
    if keep:
        diagnostic(f"keeping webhook {subscription.webhook_gid} (--keep); its secret stays stored")
        return
    await subscription.unsubscribe()
    diagnostic(f"unsubscribed: webhook {subscription.webhook_gid} deleted")
