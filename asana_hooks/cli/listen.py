"""``listen``: run a receiver, subscribe in one call, stream verified events as JSON lines."""

from __future__ import annotations

import argparse
import signal

import anyio

from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.cli.output import diagnostic, print_json
from asana_hooks.cli.settings import client_config, default_store_url, parse_filter, read_token
from asana_hooks.client import AsanaClient
from asana_hooks.config import ReceiverConfig
from asana_hooks.errors import InvalidRequestError
from asana_hooks.hub import Hub, Subscription
from asana_hooks.models import Event, WebhookFilter
from asana_hooks.routing import Router
from asana_hooks.stores import open_store

__all__ = ["run_listen"]


def _receiver_config(args: argparse.Namespace) -> ReceiverConfig:
    try:
        return ReceiverConfig(host=args.host, port=args.port, public_url=args.public_url)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


async def run_listen(args: argparse.Namespace) -> int:
    """Subscribe to ``--resource`` and print ``{"webhook_gid", "event"}`` lines until a signal."""
    filters: list[WebhookFilter] | None = [parse_filter(text) for text in args.filter or []] or None
    store = open_store(args.store or default_store_url())
    client = AsanaClient(read_token(args.token_file), config=client_config(args.base_url))
    ready = anyio.Event()
    subscription: Subscription | None = None

    async def forward(event: Event) -> None:
        # Events can beat the 201 back; wait for the gid (ms) rather than print them without it.
        await ready.wait()
        assert subscription is not None
        print_json({"webhook_gid": subscription.webhook_gid, "event": event.raw})

    router = Router()
    router.add(forward)
    async with store, client, Hub(store=store, client=client, receiver_config=_receiver_config(args)) as hub:
        subscription = await hub.subscribe(args.resource, router, filters=filters if filters else None)
        ready.set()
        verb = "reusing" if subscription.reused else "created"
        diagnostic(
            f"listening: {verb} webhook {subscription.webhook_gid} on resource {args.resource}; "
            f"Asana delivers to {subscription.target.rsplit('/', 1)[0]}/<token>"
        )
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for received in signals:
                diagnostic(f"received {signal.Signals(received).name}")
                break
        if args.keep:
            diagnostic(f"keeping webhook {subscription.webhook_gid} (--keep); its secret stays stored")
        else:
            with anyio.CancelScope(shield=True):
                await subscription.unsubscribe()
            diagnostic(f"unsubscribed: webhook {subscription.webhook_gid} deleted")
    return ExitCode.OK
