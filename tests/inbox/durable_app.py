"""A durable receiver as its own process, for the kill -9 tests.

``python -m tests.inbox.durable_app --store URL --inbox URL --out FILE [--stall] [--lease S]``
prints ``ready <base url>`` once serving. Its handler appends each event's resource gid to
``--out`` (one line per event, fsync'd), or with ``--stall`` never returns, so that acknowledged
batches sit in the inbox unprocessed when the test kills the process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import anyio
import anyio.to_thread

from asana_hooks.config import AckMode, InboxConfig, ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.handshake import SubscriptionRecord
from asana_hooks.receiver import Receiver
from asana_hooks.stores import open_inbox, open_store


def _append(path: str, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())


async def main(args: argparse.Namespace) -> None:
    async def handle(record: SubscriptionRecord, delivery: Delivery) -> None:
        if args.stall:
            await anyio.sleep_forever()
        await anyio.to_thread.run_sync(_append, args.out, [event.resource.gid for event in delivery.events])

    config = ReceiverConfig(
        ack_mode=AckMode.DURABLE,
        inbox=InboxConfig(workers=4, lease=args.lease, poll_interval=0.1),
        shutdown_timeout=1.0,
    )
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with (
            open_store(args.store) as store,
            open_inbox(args.inbox) as inbox,
            Receiver(store, config=config, inbox=inbox, on_delivery=handle) as receiver,
        ):
            print(f"ready {receiver.base_url}", flush=True)
            async for _ in signals:
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--inbox", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--lease", type=float, default=1.0)
    anyio.run(main, parser.parse_args())
    sys.exit(0)
