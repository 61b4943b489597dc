"""A bot that watches an Asana project for task changes, subscribed in one call.

It prints every task change, and when a task is marked complete it comments "Nice work!" on it
(a real write to Asana: run it on a project where that is welcome). It exits after ``--events``
task changes, or on Ctrl-C; either way it deletes its webhook on the way out.

Against Asana, the receiver must be reachable over public HTTPS: run a tunnel to the local port
(``cloudflared tunnel --url http://127.0.0.1:8080``) and pass its URL::

    export ASANA_ACCESS_TOKEN=...                         # a personal access token
    export ASANA_HOOKS_PUBLIC_URL=https://example.trycloudflare.com
    python examples/bot_one_call.py PROJECT_GID --events 5

Offline, against the local emulator (``python -m asana_hooks emulator`` prints its URL and token)::

    ASANA_BASE_URL=http://127.0.0.1:PORT/api/1.0 ASANA_ACCESS_TOKEN=TOKEN \\
        python examples/bot_one_call.py PROJECT_GID --port 0

Settings: ``ASANA_ACCESS_TOKEN`` (required), the resource gid (argument or ``ASANA_RESOURCE_GID``),
``--public-url`` (or ``ASANA_HOOKS_PUBLIC_URL``), ``--base-url`` (or ``ASANA_BASE_URL``), ``--port``,
``--store`` (the SQLite file holding webhook secrets), ``--events``.
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
    AsanaClient,
    AsanaHooksError,
    ClientConfig,
    Event,
    Hub,
    ReceiverConfig,
    Router,
    SQLiteStore,
    Subscription,
)

COMMENT = "Nice work!"


async def main(
    resource: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    receiver_config: ReceiverConfig | None = None,
    store_path: str | os.PathLike[str] = "asana-hooks-secrets.sqlite3",
    max_events: int | None = None,
    task_status: TaskStatus[Subscription] = anyio.TASK_STATUS_IGNORED,
) -> list[Event]:
    """Watch ``resource`` for task changes until ``max_events`` arrived (forever when None).

    Args:
        resource: The project (or task) gid to watch.
        token: An Asana access token; None reads ``ASANA_ACCESS_TOKEN``.
        base_url: The API root (Asana's, or an emulator's).
        receiver_config: Where the receiver listens and the public URL Asana calls.
        store_path: The SQLite file holding webhook secrets.
        max_events: Stop after this many task changes; None runs until cancelled (Ctrl-C).
        task_status: Reports the subscription once the webhook exists (for ``TaskGroup.start``).

    Returns:
        The task changes handled, in arrival order.
    """
    handled: list[Event] = []
    enough = anyio.Event()
    router = Router()

    async with (
        SQLiteStore(store_path) as store,
        Hub(
            store=store,
            token=token,
            client_config=ClientConfig(base_url=base_url),
            receiver_config=receiver_config or ReceiverConfig(),
        ) as hub,
    ):

        @router.on("task", action="changed")
        async def on_task_changed(event: Event) -> None:
            field = event.change.field if event.change else None
            print(f"task {event.resource.gid}: {field} changed", flush=True)
            if field == "completed":
                await congratulate(hub.client, event.resource.gid)
            # Counted last, so the bot stops only after the comment is written.
            handled.append(event)
            if max_events is not None and len(handled) >= max_events:
                enough.set()

        # One call: Asana's handshake is answered while the create is in flight. The filters
        # ({"resource_type": "task", "action": "changed"}) are derived from the router.
        subscription = await hub.subscribe(resource, router)
        print(f"watching {resource} through webhook {subscription.webhook_gid}", flush=True)
        task_status.started(subscription)
        try:
            await enough.wait()
        finally:
            # Shielded: Ctrl-C cancels us, and the webhook must still be deleted.
            with anyio.CancelScope(shield=True):
                await subscription.unsubscribe()
                print(f"deleted webhook {subscription.webhook_gid}", flush=True)
    return handled


async def congratulate(client: AsanaClient, task_gid: str) -> None:
    """Comment on a task that is now complete (events carry ids only, so fetch its state)."""
    task = await client.request_json("GET", f"/tasks/{task_gid}", params={"opt_fields": "completed"})
    if task.get("completed"):
        await client.request_json("POST", f"/tasks/{task_gid}/stories", data={"text": COMMENT})


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and environment, run the bot, and return the exit status."""
    parser = argparse.ArgumentParser(
        description="Watch an Asana project for task changes; comment on completed tasks.",
        epilog="The token is read from ASANA_ACCESS_TOKEN, never from the command line.",
    )
    parser.add_argument("resource", nargs="?", default=os.environ.get("ASANA_RESOURCE_GID"))
    parser.add_argument("--public-url", default=os.environ.get("ASANA_HOOKS_PUBLIC_URL"))
    parser.add_argument("--base-url", default=os.environ.get("ASANA_BASE_URL", DEFAULT_BASE_URL))
    parser.add_argument("--port", type=int, default=8080, help="local port of the receiver (0: any)")
    parser.add_argument("--store", type=Path, default=Path("asana-hooks-secrets.sqlite3"))
    parser.add_argument("--events", type=int, default=None, help="exit after N task changes")
    args = parser.parse_args(argv)
    if not args.resource:
        parser.error("give the gid of the project to watch, or set ASANA_RESOURCE_GID")
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
