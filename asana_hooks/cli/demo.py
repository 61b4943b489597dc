"""``demo``: the main job, end to end on one event loop, offline.

Starts the local Asana emulator and a receiver, subscribes to a project in one call (create,
handshake, secret stored in a temporary SQLite file), changes tasks through the emulator's REST API
(create, rename, complete, comment, move), prints each verified event as it arrives, then a summary,
and unsubscribes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.cli.output import diagnostic, print_json, silence_stdout
from asana_hooks.client import AsanaClient
from asana_hooks.config import ClientConfig
from asana_hooks.emulator import Emulator
from asana_hooks.hub import Hub, Subscription
from asana_hooks.models import Event
from asana_hooks.routing import Router
from asana_hooks.stores import SQLiteStore

__all__ = ["run_demo"]


@dataclass
class _Show:
    """Prints for a person, or JSON lines for a machine."""

    as_json: bool
    labels: dict[str, str] = field(default_factory=dict)

    def line(self, kind: str, text: str, **data: Any) -> None:
        try:
            if self.as_json:
                print_json({"type": kind, **data})
            else:
                print(text, flush=True)
        except BrokenPipeError:
            # ``demo | head``: the reader left; the demo still finishes and cleans up, quietly.
            silence_stdout()

    def describe(self, event: Event) -> str:
        resource = event.resource
        what = self.labels.get(resource.gid, f"{resource.resource_type} {resource.gid}")
        if event.change is not None and event.change.field:
            return f"{what}: {event.change.field} {event.change.action or event.action}"
        if event.parent is not None:
            parent = self.labels.get(event.parent.gid, f"{event.parent.resource_type} {event.parent.gid}")
            preposition = "to" if event.action == "added" else "from"
            return f"{what} {event.action} {preposition} {parent}"
        return f"{what} {event.action}"


async def _steps(
    client: AsanaClient, emulator: Emulator, show: _Show
) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    world = emulator.world
    show.labels[world.project_gid] = 'project "Launch plan"'
    show.labels[world.other_project_gid] = 'project "Backlog"'
    task: dict[str, str] = {}

    async def create() -> None:
        data = await client.request_json(
            "POST", "/tasks", data={"name": "Write the demo", "projects": [world.project_gid]}
        )
        task["gid"] = str(data["gid"])
        show.labels[task["gid"]] = 'task "Write the demo"'

    async def rename() -> None:
        await client.request_json("PUT", f"/tasks/{task['gid']}", data={"name": "Ship the demo"})
        show.labels[task["gid"]] = 'task "Ship the demo"'

    async def complete() -> None:
        await client.request_json("PUT", f"/tasks/{task['gid']}", data={"completed": True})

    async def comment() -> None:
        story = await client.request_json("POST", f"/tasks/{task['gid']}/stories", data={"text": "Done!"})
        show.labels[str(story["gid"])] = 'comment "Done!"'

    async def move() -> None:
        gid = task["gid"]
        await client.request_json(
            "POST", f"/tasks/{gid}/addProject", data={"project": world.other_project_gid}
        )
        await client.request_json("POST", f"/tasks/{gid}/removeProject", data={"project": world.project_gid})

    return [
        ('create task "Write the demo" in the project', create),
        ('rename it to "Ship the demo"', rename),
        ("mark it complete", complete),
        ('comment "Done!"', comment),
        ("move it to another project", move),
    ]


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every delivered event was verified and handled."""
    show = _Show(as_json=args.json)
    handled: list[Event] = []

    async def on_event(event: Event) -> None:
        handled.append(event)
        show.line("event", f"    verified event: {show.describe(event)}", event=event.raw)

    router = Router()
    router.add(on_event)
    async with (
        anyio.TemporaryDirectory(prefix="asana-hooks-demo-") as folder,
        Emulator() as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
        SQLiteStore(Path(folder) / "secrets.sqlite3") as store,
        Hub(store=store, client=client) as hub,
    ):
        show.line("emulator", f"local Asana emulator at {emulator.base_url}", base_url=emulator.base_url)
        started = time.perf_counter()
        subscription = await hub.subscribe(emulator.world.project_gid, router)
        handshake_ms = (time.perf_counter() - started) * 1000
        show.line(
            "subscribed",
            f"subscribed to the project in one call: webhook {subscription.webhook_gid}, "
            f"handshake answered and secret stored, in {handshake_ms:.0f} ms",
            webhook_gid=subscription.webhook_gid,
            handshake_ms=round(handshake_ms, 1),
        )
        for text, step in await _steps(client, emulator, show):
            show.line("step", f"  -> {text}", step=text)
            await step()
            # Inline acknowledgement: once the emulator is idle, every handler has run.
            await emulator.wait_idle()
        return await _finish(show, emulator, subscription, handled, handshake_ms)


async def _finish(
    show: _Show, emulator: Emulator, subscription: Subscription, handled: list[Event], handshake_ms: float
) -> int:
    mine = [
        d for d in emulator.deliveries if d.kind == "delivery" and d.webhook_gid == subscription.webhook_gid
    ]
    sent = sum(len(d.events) for d in mine)
    refused = sum(1 for d in mine if not d.succeeded)
    await subscription.unsubscribe()
    show.line(
        "summary",
        f"summary: {sent} events delivered, {len(handled)} verified and handled, "
        f"{len(mine)} signed deliveries ({refused} refused), handshake {handshake_ms:.0f} ms; "
        f"webhook {subscription.webhook_gid} deleted",
        events_delivered=sent,
        events_verified=len(handled),
        deliveries=len(mine),
        deliveries_refused=refused,
        handshake_ms=round(handshake_ms, 1),
        unsubscribed=subscription.webhook_gid not in emulator.webhooks,
    )
    if sent > 0 and sent == len(handled) and refused == 0:
        return ExitCode.OK
    diagnostic(
        f"asana-hooks: error: the demo expected every delivered event verified and handled, got "
        f"{len(handled)} of {sent} ({refused} deliveries refused)"
    )
    return ExitCode.INTERNAL
