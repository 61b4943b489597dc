"""Every example in examples/ runs against the emulator; a person's edits arrive through its REST API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiohttp
import anyio
import pytest
from anyio.abc import TaskGroup, TaskStatus

from asana_hooks import AsanaClient, Event, ReceiverConfig, Subscription
from asana_hooks.emulator import Emulator
from asana_hooks.emulator.world import Story
from examples import await_events, bot_one_call, derived_filters, mount_in_aiohttp_app

pytestmark = pytest.mark.anyio

T = TypeVar("T")

#: Generous bound on one example run; a hang fails the test instead of the suite.
DEADLINE = 20


@dataclass
class Outcome(Generic[T]):
    """What an example's ``main`` returned, once it has."""

    value: T | None = None


async def start(tg: TaskGroup, main: Callable[..., Awaitable[T]], **kwargs: Any) -> tuple[Any, Outcome[T]]:
    """Start ``main`` in ``tg``; return what it reported as started, and its eventual result."""
    outcome: Outcome[T] = Outcome()

    async def run(*, task_status: TaskStatus[Any]) -> None:
        outcome.value = await main(task_status=task_status, **kwargs)

    started = await tg.start(run)
    return started, outcome


async def new_task(client: AsanaClient, project: str, name: str) -> str:
    """Create a task in the project, as a person would in Asana."""
    data = await client.request_json("POST", "/tasks", data={"name": name, "projects": [project]})
    return str(data["gid"])


async def edit(emulator: Emulator, client: AsanaClient, method: str, path: str, **data: Any) -> Any:
    """Change something, then wait until the emulator delivered whatever events that made."""
    result = await client.request_json(method, path, data=data)
    await emulator.wait_idle()
    return result


def common(emulator: Emulator, tmp_path: Path) -> dict[str, Any]:
    """The arguments every example's ``main`` takes to run on the emulator."""
    return {
        "resource": emulator.world.project_gid,
        "token": emulator.token,
        "base_url": emulator.base_url,
        "store_path": tmp_path / "secrets.sqlite3",
    }


def comments_on(emulator: Emulator, task: str) -> list[str]:
    """The texts of the comments on a task in the emulator's world."""
    return [s.text for s in emulator.world.of_type("story") if isinstance(s, Story) and s.task_gid == task]


# -- bot_one_call -----------------------------------------------------------------------------------


async def test_bot_handles_task_changes_comments_on_completion_and_deletes_its_webhook(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """The bot sees the rename and the completion, comments on the completed task, then unsubscribes."""
    project = emulator.world.project_gid
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            subscription, outcome = await start(
                tg,
                bot_one_call.main,
                receiver_config=ReceiverConfig(),
                max_events=2,
                **common(emulator, tmp_path),
            )
            assert isinstance(subscription, Subscription)
            hook = emulator.webhooks[subscription.webhook_gid]
            assert hook.filters == [
                {"resource_type": "task", "resource_subtype": None, "action": "changed", "fields": None}
            ]
            task = await new_task(client, project, "Draft")  # "added": not a change, so not delivered
            await emulator.wait_idle()
            await edit(emulator, client, "PUT", f"/tasks/{task}", name="Final")
            await edit(emulator, client, "PUT", f"/tasks/{task}", completed=True)
    events = outcome.value
    assert events is not None
    assert [(e.resource.gid, e.change.field if e.change else None) for e in events] == [
        (task, "name"),
        (task, "completed"),
    ]
    assert comments_on(emulator, task) == [bot_one_call.COMMENT]
    assert subscription.webhook_gid not in emulator.webhooks


async def test_bot_deletes_its_webhook_when_cancelled(emulator: Emulator, tmp_path: Path) -> None:
    """Cancelling the bot (what Ctrl-C does) still deletes its webhook at Asana."""
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            subscription, _ = await start(tg, bot_one_call.main, **common(emulator, tmp_path))
            assert subscription.webhook_gid in emulator.webhooks
            tg.cancel_scope.cancel()
    assert subscription.webhook_gid not in emulator.webhooks
    assert emulator.webhooks == {}


# -- mount_in_aiohttp_app ---------------------------------------------------------------------------


async def get_health(url: str) -> tuple[int, Any]:
    """GET the service's own /health route."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/health") as response:
        return response.status, await response.json()


async def test_mounted_receiver_serves_beside_the_services_own_routes(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """/health answers from the same server that takes Asana's handshake and deliveries under /hooks."""
    project = emulator.world.project_gid
    stop = anyio.Event()
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            running, _ = await start(
                tg, mount_in_aiohttp_app.main, port=0, stop=stop, **common(emulator, tmp_path)
            )
            assert isinstance(running, mount_in_aiohttp_app.Running)
            gid = running.subscription.webhook_gid
            assert emulator.webhooks[gid].target.startswith(f"{running.url}/hooks/asana/h/")
            assert [h.status for h in emulator.handshakes] == [200]
            assert await get_health(running.url) == (
                200,
                {"status": "ok", "webhook": gid, "events_handled": 0},
            )

            task = await new_task(client, project, "Draft")
            await emulator.wait_idle()
            await edit(emulator, client, "PUT", f"/tasks/{task}", name="Final")
            assert await get_health(running.url) == (
                200,
                {"status": "ok", "webhook": gid, "events_handled": 2},
            )
            stop.set()
    mine = [d for d in emulator.deliveries if d.webhook_gid == gid and d.events]
    assert [e["resource"]["gid"] for d in mine for e in d.events] == [task, task]
    assert all(d.status == 200 for d in mine)
    # A service keeps its webhook when it stops: the next start reuses it.
    assert gid in emulator.webhooks


async def test_restarted_service_reuses_its_webhook_without_a_new_handshake(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """A second start on the same address and store reuses the webhook and its stored secret."""
    args = common(emulator, tmp_path)
    with anyio.fail_after(DEADLINE):
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            first, _ = await start(tg, mount_in_aiohttp_app.main, port=0, stop=stop, **args)
            stop.set()
        port = int(first.url.rsplit(":", 1)[1])
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            second, _ = await start(tg, mount_in_aiohttp_app.main, port=port, stop=stop, **args)
            await new_task(client, emulator.world.project_gid, "After the restart")
            await emulator.wait_idle()
            status, health = await get_health(second.url)
            stop.set()
    assert not first.subscription.reused
    assert second.subscription.reused
    assert second.subscription.webhook_gid == first.subscription.webhook_gid
    assert len(emulator.handshakes) == 1
    assert (status, health["events_handled"]) == (200, 1)


# -- await_events -----------------------------------------------------------------------------------


async def test_app_awaits_every_event_in_order_with_async_for(
    emulator: Emulator, client: AsanaClient, tmp_path: Path
) -> None:
    """The program reads the task's creation, rename and comment from the stream, then unsubscribes."""
    project = emulator.world.project_gid
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            subscription, outcome = await start(
                tg,
                await_events.main,
                receiver_config=ReceiverConfig(),
                max_events=3,
                **common(emulator, tmp_path),
            )
            # A lone catch-all handler derives no filters: Asana sends everything.
            assert emulator.webhooks[subscription.webhook_gid].filters == []
            task = await new_task(client, project, "Draft")
            await emulator.wait_idle()
            await edit(emulator, client, "PUT", f"/tasks/{task}", name="Final")
            story = await edit(emulator, client, "POST", f"/tasks/{task}/stories", text="Looks good")
    events = outcome.value
    assert events is not None
    assert [(e.resource.resource_type, e.action, e.resource.gid) for e in events] == [
        ("task", "added", task),
        ("task", "changed", task),
        ("story", "added", story["gid"]),
    ]
    assert subscription.webhook_gid not in emulator.webhooks


# -- derived_filters --------------------------------------------------------------------------------

EXPECTED_FILTERS: list[dict[str, Any]] = [
    {"action": "added", "resource_subtype": "comment_added", "resource_type": "story"},
    {"action": "added", "resource_type": "task"},
    {"action": "changed", "fields": ["due_on", "name", "notes"], "resource_type": "task"},
]


def ignore(name: str, event: Event) -> None:
    """A recorder that records nothing."""


async def test_composed_routers_derive_one_filter_per_kind_with_merged_fields() -> None:
    """Three routers give three filters; the two task-change routes share one, fields merged."""
    filters = derived_filters.build_router(ignore).filters()
    assert filters is not None
    assert [item.to_request() for item in filters] == EXPECTED_FILTERS


async def test_asana_delivers_only_the_events_the_composed_routers_handle(
    emulator: Emulator, client: AsanaClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed filters are the webhook's, so the unhandled completion is never delivered."""
    project = emulator.world.project_gid
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            subscription, outcome = await start(
                tg,
                derived_filters.main,
                receiver_config=ReceiverConfig(),
                max_events=4,
                **common(emulator, tmp_path),
            )
            gid = subscription.webhook_gid
            assert emulator.webhooks[gid].filters == [
                {"resource_subtype": None, "fields": None, **item} for item in EXPECTED_FILTERS
            ]
            task = await new_task(client, project, "Draft")
            await emulator.wait_idle()
            await edit(emulator, client, "PUT", f"/tasks/{task}", name="Final")
            await edit(emulator, client, "PUT", f"/tasks/{task}", completed=True)
            await edit(emulator, client, "PUT", f"/tasks/{task}", due_on="2030-01-31")
            story = await edit(emulator, client, "POST", f"/tasks/{task}/stories", text="Looks good")
    handled = outcome.value
    assert handled is not None
    assert [(name, event.resource.gid) for name, event in handled] == [
        ("task_added", task),
        ("task_edited", task),
        ("task_rescheduled", task),
        ("commented", story["gid"]),
    ]
    delivered = [e for d in emulator.deliveries if d.webhook_gid == gid for e in d.events]
    assert [e.get("change", {}).get("field") for e in delivered] == [None, "name", "due_on", None]
    assert gid not in emulator.webhooks
    printed = [line.removeprefix("filter: ") for line in capsys.readouterr().out.splitlines()]
    assert [json.loads(line) for line in printed[:3]] == EXPECTED_FILTERS
    assert printed[3] == f"watching {project} through webhook {gid}"
