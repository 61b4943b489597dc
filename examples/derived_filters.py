"""Routers composed from parts of an application, and the Asana filters derived from them.

Each part of the application registers its handlers on its own router; one router includes them
all. ``Router.filters()`` turns the routes into the webhook's ``filters`` so that Asana sends only
what some handler will handle: routes on the same resource type and action share one filter, their
fields merged. Here a task completion, which no handler wants, is never even delivered.

See the filters without touching Asana (no token needed)::

    python examples/derived_filters.py --print-filters

Subscribe with them (the receiver must be reachable over public HTTPS, e.g. through a tunnel)::

    export ASANA_ACCESS_TOKEN=...                         # a personal access token
    export ASANA_HOOKS_PUBLIC_URL=https://example.trycloudflare.com
    python examples/derived_filters.py PROJECT_GID --events 10

Settings: ``ASANA_ACCESS_TOKEN`` (required to subscribe), the resource gid (argument or
``ASANA_RESOURCE_GID``), ``--public-url`` (or ``ASANA_HOOKS_PUBLIC_URL``), ``--base-url`` (or
``ASANA_BASE_URL``), ``--port``, ``--store``, ``--events``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
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
    Router,
    SQLiteStore,
    Subscription,
    WebhookFilter,
)

#: Told of each handler call: (handler name, event).
Recorder = Callable[[str, Event], None]


def build_router(record: Recorder) -> Router:
    """The application's router: task editing, scheduling and comments, each from its own part."""

    def note(name: str, event: Event) -> None:
        field = f" ({event.change.field})" if event.change and event.change.field else ""
        print(f"{name}: {event.resource.resource_type} {event.resource.gid}{field}", flush=True)
        record(name, event)

    editing = Router()

    @editing.on("task", action="added")
    async def task_added(event: Event) -> None:
        note("task_added", event)

    @editing.on("task", field=["name", "notes"])
    async def task_edited(event: Event) -> None:
        note("task_edited", event)

    scheduling = Router()

    @scheduling.on("task", field="due_on")
    async def task_rescheduled(event: Event) -> None:
        note("task_rescheduled", event)

    comments = Router()

    @comments.on("story", action="added", resource_subtype="comment_added")
    async def commented(event: Event) -> None:
        note("commented", event)

    return Router(editing, scheduling, comments)


def describe(filters: list[WebhookFilter] | None) -> list[str]:
    """One JSON line per filter, as sent to Asana (None, from a catch-all route: no filters)."""
    return [json.dumps(item.to_request(), sort_keys=True) for item in filters or ()]


async def main(
    resource: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    receiver_config: ReceiverConfig | None = None,
    store_path: str | os.PathLike[str] = "asana-hooks-secrets.sqlite3",
    max_events: int | None = None,
    task_status: TaskStatus[Subscription] = anyio.TASK_STATUS_IGNORED,
) -> list[tuple[str, Event]]:
    """Subscribe to ``resource`` with the derived filters and route events until ``max_events``.

    Args:
        resource: The project (or task) gid to watch.
        token: An Asana access token; None reads ``ASANA_ACCESS_TOKEN``.
        base_url: The API root (Asana's, or an emulator's).
        receiver_config: Where the receiver listens and the public URL Asana calls.
        store_path: The SQLite file holding webhook secrets.
        max_events: Stop after this many handler calls; None runs until cancelled (Ctrl-C).
        task_status: Reports the subscription once the webhook exists (for ``TaskGroup.start``).

    Returns:
        Each handler call as (handler name, event), in order.
    """
    handled: list[tuple[str, Event]] = []
    enough = anyio.Event()

    def record(name: str, event: Event) -> None:
        handled.append((name, event))
        if max_events is not None and len(handled) >= max_events:
            enough.set()

    router = build_router(record)
    filters = router.filters()
    for line in describe(filters):
        print("filter:", line, flush=True)
    async with (
        SQLiteStore(store_path) as store,
        Hub(
            store=store,
            token=token,
            client_config=ClientConfig(base_url=base_url),
            receiver_config=receiver_config or ReceiverConfig(),
        ) as hub,
    ):
        # Passing filters=router.filters() is what subscribe does by default; spelt out here.
        subscription = await hub.subscribe(resource, router, filters=filters)
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


def cli(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and environment, run the program, and return the exit status."""
    parser = argparse.ArgumentParser(
        description="Route Asana events through composed routers, subscribed with derived filters.",
        epilog="The token is read from ASANA_ACCESS_TOKEN, never from the command line.",
    )
    parser.add_argument("resource", nargs="?", default=os.environ.get("ASANA_RESOURCE_GID"))
    parser.add_argument("--print-filters", action="store_true", help="print the derived filters and exit")
    parser.add_argument("--public-url", default=os.environ.get("ASANA_HOOKS_PUBLIC_URL"))
    parser.add_argument("--base-url", default=os.environ.get("ASANA_BASE_URL", DEFAULT_BASE_URL))
    parser.add_argument("--port", type=int, default=8080, help="local port of the receiver (0: any)")
    parser.add_argument("--store", type=Path, default=Path("asana-hooks-secrets.sqlite3"))
    parser.add_argument("--events", type=int, default=None, help="exit after N handler calls")
    args = parser.parse_args(argv)
    if args.print_filters:
        for line in describe(build_router(lambda name, event: None).filters()):
            print(line)
        return 0
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
