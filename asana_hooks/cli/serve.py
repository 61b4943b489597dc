"""``serve``: a receiver replica that subscribes to nothing and streams what it verifies.

Run it behind the same load balancer as the processes that subscribe (``listen``, or your own
``Hub``), all sharing one store (``--store redis://...``): it answers the handshake of any create
pending in the store, so a replica's create completes whichever replica Asana's handshake lands on,
and it verifies deliveries for every webhook in the store. Each verified event is printed to stdout
as one JSON line ``{"webhook_gid": ..., "event": {...}}``, the form ``listen`` prints; diagnostics go
to stderr. It stops on SIGINT or SIGTERM and deletes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import signal

import anyio

from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.cli.output import diagnostic, print_json, silence_stdout
from asana_hooks.cli.settings import default_store_url
from asana_hooks.cli.stop_signals import STOP_SIGNALS
from asana_hooks.config import AckMode, ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.errors import AsanaHooksError, DeliveryRefused, InvalidRequestError
from asana_hooks.handshake import SecretStore, SubscriptionRecord
from asana_hooks.receiver import Receiver
from asana_hooks.stores import open_inbox, open_store

__all__ = ["add_serve_parser", "run_serve"]

# A delivery can beat the 201 back to the replica that created the webhook, and so reach this
# one before the webhook's gid is in the store: wait this long for it, then answer 500 so that
# Asana resends rather than print the event without its webhook.
_GID_WAIT_SECONDS = 5.0
_GID_POLL_SECONDS = 0.05


class _GidUnknown(AsanaHooksError):
    """The delivery verified, but its webhook's gid is not in the store yet."""


def add_serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` subcommand to the ``asana-hooks`` parser."""
    serve = commands.add_parser(
        "serve",
        help="run a receiver replica: answer pending handshakes, verify and stream every stored webhook",
        description="A receiver that subscribes to nothing. It answers handshakes for creates pending "
        "in the shared store (made by any replica) and verifies deliveries for every webhook in it, "
        'printing each event to stdout as one JSON line {"webhook_gid": ..., "event": {...}}; '
        "diagnostics go to stderr. Share the store with the other replicas: --store redis://host:port/db. "
        "Stops on SIGINT/SIGTERM; deletes nothing.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
    serve.add_argument(
        "--store",
        metavar="URL",
        help="secret store: redis://host:port/db (shared by replicas), sqlite:///path (default: under "
        "the user's data directory) or memory:",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="base URL Asana calls, when this replica sits behind a proxy or load balancer",
    )
    serve.add_argument(
        "--inbox",
        metavar="URL",
        help="durable mode: persist each verified batch to this inbox (sqlite:///path, or redis://... "
        "shared by replicas) before acknowledging it; events are printed by the inbox's workers",
    )
    serve.set_defaults(run=run_serve)


def _receiver_config(args: argparse.Namespace) -> ReceiverConfig:
    mode = AckMode.DURABLE if args.inbox else AckMode.INLINE
    try:
        return ReceiverConfig(host=args.host, port=args.port, public_url=args.public_url, ack_mode=mode)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


async def _webhook_gid(store: SecretStore, record: SubscriptionRecord) -> str:
    if record.webhook_gid is not None:
        return record.webhook_gid
    with anyio.move_on_after(_GID_WAIT_SECONDS):
        while True:
            await anyio.sleep(_GID_POLL_SECONDS)
            current = await store.get(record.token)
            if current is not None and current.webhook_gid is not None:
                return current.webhook_gid
    raise _GidUnknown("a verified delivery's webhook gid is not stored yet; Asana will resend it")


async def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM, printing ``{"webhook_gid", "event"}`` lines."""
    config = _receiver_config(args)
    store = open_store(args.store or default_store_url())
    inbox = open_inbox(args.inbox) if args.inbox else None

    async def forward(record: SubscriptionRecord, delivery: Delivery) -> None:
        gid = await _webhook_gid(store, record)
        try:
            for event in delivery.events:
                print_json({"webhook_gid": gid, "event": event.raw})
            for item in delivery.unparsed:
                print_json({"webhook_gid": gid, "event": item})
        except BrokenPipeError:
            # The reader left (``serve | head``): refuse the batch (503) so Asana resends it.
            silence_stdout()
            raise DeliveryRefused("stdout was closed") from None

    # Signals are caught from before the socket is bound, so none can kill the process half-way.
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with (
            store,
            inbox if inbox is not None else contextlib.nullcontext(),
            Receiver(store, config=config, inbox=inbox, on_delivery=forward) as receiver,
        ):
            webhooks = sum(1 for record in await store.list_records() if record.webhook_gid is not None)
            diagnostic(
                f"serving on {receiver.base_url}: Asana delivers to {receiver.target_prefix}<token>; "
                f"{webhooks} webhook(s) in {store!r}"
            )
            async for received in signals:
                diagnostic(f"received {signal.Signals(received).name}")
                break
    diagnostic("stopped")
    return ExitCode.OK
