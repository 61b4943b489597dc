"""A plain async program that awaits Asana events with ``async for``, instead of writing handlers.

The webhook's only handler is ``send.send`` of an anyio memory object stream; the program reads the
other end. With the default inline acknowledgement, a delivery is answered only once its events are
in the stream's buffer, so an event is never acknowledged to Asana and then lost; when the program
falls behind and the buffer fills, deliveries wait (and Asana retries those that wait too long).

Every event on the resource is asked for (a lone catch-all handler derives no filters). The program
stops after ``--events`` events, or on Ctrl-C, and deletes its webhook on the way out.

Against Asana (the receiver must be reachable over public HTTPS, e.g. through a tunnel)::

    export ASANA_ACCESS_TOKEN=...                         # a personal access token
    export ASANA_HOOKS_PUBLIC_URL=https://example.trycloudflare.com
    python examples/await_events.py PROJECT_GID --events 10

Settings: ``ASANA_ACCESS_TOKEN`` (required), the resource gid (argument or ``ASANA_RESOURCE_GID``),
``--public-url`` (or ``ASANA_HOOKS_PUBLIC_URL``), ``--base-url`` (or ``ASANA_BASE_URL``, e.g. the
emulator of ``python -m asana_hooks emulator``), ``--port``, ``--store``, ``--events``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import anyio
from anyio.abc import TaskStatus

from asana_hooks import (
    DEFAULT_BASE_URL,
    AsanaHooksError,
    ClientConfig,
    Event,
    Hub,
    ReceiverConfig,
    SQLiteStore,
    Subscription,
)


async def main(
    resource: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    receiver_config: ReceiverConfig | None = None,
    store_path: str | os.PathLike[str] = "asana-hooks-secrets.sqlite3",
    max_events: int | None = None,
    buffer: int = 1000,
    task_status: TaskStatus[Subscription] = anyio.TASK_STATUS_IGNORED,
) -> list[Event]:
    """Print the events on ``resource`` as they arrive, until ``max_events`` (forever when None).

    Args:
        resource: The project (or task) gid to watch.
        token: An Asana access token; None reads ``ASANA_ACCESS_TOKEN``.
        base_url: The API root (Asana's, or an emulator's).
        receiver_config: Where the receiver listens and the public URL Asana calls.
        store_path: The SQLite file holding webhook secrets.
        max_events: Stop after this many events; None runs until cancelled (Ctrl-C).
        buffer: Events held for the program before deliveries wait.
        task_status: Reports the subscription once the webhook exists (for ``TaskGroup.start``).

    Returns:
        The events read, in arrival order.
    """
    received: list[Event] = []
    send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=buffer)
    with send:
        async with (
            SQLiteStore(store_path) as store,
            Hub(
                store=store,
                token=token,
                client_config=ClientConfig(base_url=base_url),
                receiver_config=receiver_config or ReceiverConfig(),
            ) as hub,
        ):
            subscription = await hub.subscribe(resource, send.send)
            print(f"watching {resource} through webhook {subscription.webhook_gid}", flush=True)
            task_status.started(subscription)
            try:
                # Closing the receiving end first makes a delivery still waiting for buffer space
                # fail at once (500, so Asana would retry) rather than hold up the shutdown.
                with receive:
                    async for event in receive:
                        what = event.resource
                        print(f"{what.resource_type} {what.gid} {event.action}", flush=True)
                        received.append(event)
                        if max_events is not None and len(received) >= max_events:
                            break
            finally:
                # Shielded: Ctrl-C cancels us, and the webhook must still be deleted.
                with anyio.CancelScope(shield=True):
                    await subscription.unsubscribe()
                    print(f"deleted webhook {subscription.webhook_gid}", flush=True)
    return received


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and environment, run the program, and return the exit status."""
    parser = argparse.ArgumentParser(
        description="Print the events on an Asana resource as they arrive.",
        epilog="The token is read from ASANA_ACCESS_TOKEN, never from the command line.",
    )
    parser.add_argument("resource", nargs="?", default=os.environ.get("ASANA_RESOURCE_GID"))
    parser.add_argument("--public-url", default=os.environ.get("ASANA_HOOKS_PUBLIC_URL"))
    parser.add_argument("--base-url", default=os.environ.get("ASANA_BASE_URL", DEFAULT_BASE_URL))
    parser.add_argument("--port", type=int, default=8080, help="local port of the receiver (0: any)")
    parser.add_argument("--store", type=Path, default=Path("asana-hooks-secrets.sqlite3"))
    parser.add_argument("--events", type=int, default=None, help="exit after N events")
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
        receiver_config=ReceiverConfig(port=args.port, public_url=args.public_url),
        store_path=args.store,
        max_events=args.events,
    )
    try:
        anyio.run(run)
    except KeyboardInterrupt:
        return 130
    except AsanaHooksError as error:
        print(" ".join(["error:", str(error), *getattr(error, "__notes__", [])]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
