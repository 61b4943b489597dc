"""World events reach the right webhooks, batched, signed, retried and expired like Asana's."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp
import anyio
import pytest

from asana_hooks.emulator import Emulator, ManualClock
from tests import oas
from tests.emulator.rest_client import Rest
from tests.emulator.target_server import Received, TargetServer

pytestmark = pytest.mark.anyio

HOUR = 3600.0


def verify(secret: str, received: Received) -> bool:
    """Check X-Hook-Signature the way a receiver must: HMAC-SHA256 over the exact body bytes."""
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["X-Hook-Signature"])


def events_of(target: TargetServer) -> list[dict[str, Any]]:
    """Every event the target received, in arrival order."""
    return [event for received in target.deliveries for event in json.loads(received.body)["events"]]


async def subscribe(
    rest: Rest,
    resource: str,
    target: TargetServer,
    slug: str = "t1",
    filters: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """Create a webhook; return its gid and secret."""
    reply = await rest.create_webhook(resource, target.url(slug), filters)
    assert reply.status == 201, reply.body
    return reply.json()["data"]["gid"], reply.json()["X-Hook-Secret"]


# -- events and propagation ----------------------------------------------------------------------


async def test_a_task_change_reaches_the_project_webhook_signed_and_compact(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Renaming a task delivers one compact, correctly signed `changed` event to its project's webhook."""
    _, secret = await subscribe(rest, emulator.world.project_gid, target)
    task = emulator.world.task_gids[0]
    await rest.call("PUT", f"/tasks/{task}", body={"data": {"name": "Renamed"}})
    await emulator.wait_idle()
    heartbeat, delivery = target.deliveries
    assert verify(secret, heartbeat)
    assert verify(secret, delivery)
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.body == json.dumps(json.loads(delivery.body), separators=(",", ":")).encode()
    [event] = json.loads(delivery.body)["events"]
    assert event == {
        "user": {"gid": emulator.world.user_gid, "resource_type": "user"},
        "created_at": "2024-01-01T00:00:00.000Z",
        "action": "changed",
        "resource": {"gid": task, "resource_type": "task", "resource_subtype": "default_task"},
        "parent": None,
        "change": {"field": "name", "action": "changed"},
    }


async def test_events_within_the_batch_window_arrive_in_one_delivery(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Two field changes in one PUT become a single delivery with two events."""
    await subscribe(rest, emulator.world.project_gid, target)
    task = emulator.world.task_gids[0]
    await rest.call("PUT", f"/tasks/{task}", body={"data": {"notes": "n", "completed": True}})
    await emulator.wait_idle()
    assert len(target.deliveries) == 2
    assert [event["change"]["field"] for event in events_of(target)] == ["notes", "completed"]


async def test_an_assignee_change_carries_the_user_as_new_value(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Resource-valued changes carry new_value as {gid, resource_type}."""
    await subscribe(rest, emulator.world.task_gids[0], target)
    await rest.call("PUT", f"/tasks/{emulator.world.task_gids[0]}", body={"data": {"assignee": "me"}})
    await emulator.wait_idle()
    [event] = events_of(target)
    assert event["change"]["new_value"] == {"gid": emulator.world.user_gid, "resource_type": "user"}


async def test_a_comment_propagates_to_the_task_and_project_webhooks(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """A comment reaches webhooks on its task and on the task's project, with the task as parent."""
    task = emulator.world.task_gids[0]
    await subscribe(rest, task, target, "on-task")
    await subscribe(rest, emulator.world.project_gid, target, "on-project")
    reply = await rest.call("POST", f"/tasks/{task}/stories", body={"data": {"text": "hello"}})
    assert reply.status == 201
    await emulator.wait_idle()
    events = events_of(target)
    assert len(events) == 2
    for event in events:
        assert event["resource"]["resource_type"] == "story"
        assert event["resource"]["resource_subtype"] == "comment_added"
        assert event["parent"] == {"gid": task, "resource_type": "task", "resource_subtype": "default_task"}


async def test_task_events_do_not_reach_workspace_webhooks_but_project_events_do(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """A workspace webhook filtered on projects gets the new project, not the task change."""
    await subscribe(
        rest, emulator.world.workspace_gid, target, filters=[{"resource_type": "project", "action": "added"}]
    )
    await rest.call("PUT", f"/tasks/{emulator.world.task_gids[0]}", body={"data": {"name": "x"}})
    created = await rest.call(
        "POST", "/projects", body={"data": {"name": "New", "team": emulator.world.team_gid}}
    )
    await emulator.wait_idle()
    [event] = events_of(target)
    assert event["action"] == "added"
    assert event["resource"] == {"gid": created.json()["data"]["gid"], "resource_type": "project"}
    assert event["parent"]["gid"] == emulator.world.team_gid


async def test_field_filters_pass_only_the_listed_fields(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """A filter on changed/name passes a rename and drops a notes change."""
    await subscribe(
        rest,
        emulator.world.project_gid,
        target,
        filters=[{"resource_type": "task", "action": "changed", "fields": ["name"]}],
    )
    task = emulator.world.task_gids[0]
    await rest.call("PUT", f"/tasks/{task}", body={"data": {"notes": "ignored", "name": "kept"}})
    await emulator.wait_idle()
    assert [event["change"]["field"] for event in events_of(target)] == ["name"]


async def test_moving_a_task_between_projects_reaches_both_project_webhooks(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """addProject gives `added`, removeProject `removed`, each naming its project; both projects see both."""
    world = emulator.world
    await subscribe(rest, world.project_gid, target, "old")
    await subscribe(rest, world.other_project_gid, target, "new")
    task = world.task_gids[0]
    await rest.call("POST", f"/tasks/{task}/addProject", body={"data": {"project": world.other_project_gid}})
    await rest.call("POST", f"/tasks/{task}/removeProject", body={"data": {"project": world.project_gid}})
    await emulator.wait_idle()
    expected = [("added", world.other_project_gid), ("removed", world.project_gid)]
    for token in ("old", "new"):
        events = [
            event
            for received in target.deliveries
            if received.path_qs == f"/hook/{token}"
            for event in json.loads(received.body)["events"]
        ]
        assert [(event["action"], event["parent"]["gid"]) for event in events] == expected


async def test_repeating_a_membership_change_produces_no_event(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Adding a task to a project it is in, or removing it from one it is not in, changes nothing."""
    world = emulator.world
    await subscribe(rest, world.project_gid, target)
    task = world.task_gids[0]
    same = await rest.call("POST", f"/tasks/{task}/addProject", body={"data": {"project": world.project_gid}})
    absent = await rest.call(
        "POST", f"/tasks/{task}/removeProject", body={"data": {"project": world.other_project_gid}}
    )
    await rest.call("PUT", f"/tasks/{task}", body={"data": {"name": "Draft the plan"}})
    await emulator.wait_idle()
    assert (same.status, absent.status) == (200, 200)
    assert events_of(target) == []


async def test_creating_and_deleting_a_task_reach_the_project_webhook(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """POST /tasks with projects gives `added`; DELETE gives `deleted` although the task is gone."""
    await subscribe(rest, emulator.world.project_gid, target)
    created = await rest.call(
        "POST", "/tasks", body={"data": {"name": "t", "projects": [emulator.world.project_gid]}}
    )
    gid = created.json()["data"]["gid"]
    await rest.call("DELETE", f"/tasks/{gid}")
    await emulator.wait_idle()
    assert [(event["action"], event["resource"]["gid"]) for event in events_of(target)] == [
        ("added", gid),
        ("deleted", gid),
    ]
    assert (await rest.call("GET", f"/tasks/{gid}")).status == 404


async def test_emitted_odd_events_are_delivered_verbatim(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """emit() passes unknown actions and null users through to the targeted webhook unchanged."""
    await subscribe(rest, emulator.world.project_gid, target, "bystander")
    gid, secret = await subscribe(rest, emulator.world.project_gid, target)
    odd = {"user": None, "action": "teleported", "resource": None, "parent": None, "extra": [1, 2]}
    assert emulator.emit(odd, webhook_gid=gid) == 1
    await emulator.wait_idle()
    assert events_of(target) == [odd]
    assert target.deliveries[-1].path_qs == "/hook/t1"
    assert verify(secret, target.deliveries[-1])


async def test_emit_matches_by_resource_scope_and_filters(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Without a gid, emit() reaches webhooks on the resource's containers whose filters pass."""
    await subscribe(rest, emulator.world.project_gid, target, filters=[{"action": "deleted"}])
    task = {"gid": emulator.world.task_gids[1], "resource_type": "task"}
    assert emulator.emit({"action": "changed", "resource": task}) == 0
    assert emulator.emit({"action": "deleted", "resource": task}) == 1
    assert emulator.emit({"action": "deleted", "resource": {"gid": "elsewhere"}}) == 0


async def test_emit_refuses_unknown_webhooks_and_unserialisable_events(emulator: Emulator) -> None:
    """A KeyError for a gid that names no webhook, a TypeError for values JSON cannot carry."""
    with pytest.raises(KeyError):
        emulator.emit({"action": "changed"}, webhook_gid="404")
    with pytest.raises(TypeError):
        emulator.emit({"action": object()})


async def test_delivered_events_fit_the_specs_event_schema(
    spec_available: None, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Every event the world produces validates against EventResponse (with the documented relaxations)."""
    world = emulator.world
    await subscribe(rest, world.project_gid, target)
    task = world.task_gids[0]
    await rest.call("PUT", f"/tasks/{task}", body={"data": {"assignee": "me", "completed": True}})
    await rest.call("POST", f"/tasks/{task}/stories", body={"data": {"text": "hi"}})
    await rest.call("POST", f"/tasks/{task}/removeProject", body={"data": {"project": world.project_gid}})
    await emulator.wait_idle()
    events = events_of(target)
    assert len(events) == 4
    for event in events:
        oas.validate_schema("EventResponse", event)


# -- failures, retries, deletion, heartbeats (manual clock) ---------------------------------------


async def test_a_failed_delivery_is_retried_with_growing_backoff(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Each failure bumps delivery_retry_count and pushes next_attempt_after further out."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    target.delivery_status = 500
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    start = clock.now()
    gaps = []
    for expected_count in (1, 2, 3, 4):
        record = (await rest.call("GET", f"/webhooks/{gid}")).json()["data"]
        assert record["delivery_retry_count"] == expected_count
        hook = emulator.webhooks[gid]
        assert hook.next_attempt_after is not None
        gaps.append(hook.next_attempt_after - clock.now())
        clock.advance(gaps[-1])
        await emulator.wait_idle()
    assert gaps == [60.0, 120.0, 240.0, 480.0]
    assert record["last_failure_content"] == "500 Internal Server Error\n\nreceiver says no"
    assert record["failure_deletion_timestamp"] is not None
    assert emulator.webhooks[gid].failure_deletion_timestamp == start + 24 * HOUR
    assert len(target.deliveries) == 1 + 5  # the heartbeat, then the same batch five times
    assert len({received.body for received in target.deliveries[1:]}) == 1


async def test_nothing_is_retried_before_next_attempt_after(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Moving the clock to just before the retry time sends nothing."""
    await subscribe(rest, emulator.world.project_gid, target)
    target.delivery_status = 503
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    clock.advance(59.9)
    await emulator.wait_idle()
    assert len(target.deliveries) == 2


async def test_a_success_after_failures_resets_the_retry_state(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The retry that succeeds clears the count and timestamps and sets last_success_at."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    target.delivery_statuses = [500, 500]
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    clock.advance(60)
    await emulator.wait_idle()
    clock.advance(120)
    await emulator.wait_idle()
    record = (await rest.call("GET", f"/webhooks/{gid}")).json()["data"]
    assert record["delivery_retry_count"] == 0
    assert record["next_attempt_after"] is None
    assert record["failure_deletion_timestamp"] is None
    assert record["last_success_at"] == "2024-01-01T00:03:00.000Z"
    assert record["last_failure_at"] == "2024-01-01T00:01:00.000Z"


async def test_later_batches_wait_behind_a_failing_one_and_follow_it(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """While the head batch is failing, new events queue; once it succeeds they go out in order."""
    await subscribe(rest, emulator.world.project_gid, target)
    project = {"gid": emulator.world.project_gid}
    target.delivery_statuses = [500]
    emulator.emit({"action": "first", "resource": project})
    await emulator.wait_idle()
    emulator.emit({"action": "second", "resource": project})
    await emulator.wait_idle()
    assert len(target.deliveries) == 2
    clock.advance(60)
    await emulator.wait_idle()
    assert [event["action"] for event in events_of(target)] == ["first", "first", "second"]


async def test_a_webhook_failing_for_24_hours_is_deleted(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """After a day without success the webhook is gone: GET answers 404."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    target.delivery_status = 500
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    for _ in range(40):
        clock.advance(HOUR)
        await emulator.wait_idle()
    assert (await rest.call("GET", f"/webhooks/{gid}")).status == 404
    last = emulator.deliveries[-1]
    assert last.at == pytest.approx(clock.now() - 40 * HOUR + 24 * HOUR, abs=HOUR)
    assert not last.succeeded


async def test_one_big_clock_jump_still_deletes_after_a_final_attempt(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Jumping 25 h at once makes one more attempt, which fails, and the webhook is deleted."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    target.delivery_status = 500
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    clock.advance(25 * HOUR)
    await emulator.wait_idle()
    assert gid not in emulator.webhooks


async def test_heartbeats_go_out_every_eight_hours(
    clock: ManualClock, emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """An idle webhook gets a signed {"events":[]} at creation and at 8 h and 16 h, not in between."""
    gid, secret = await subscribe(rest, emulator.world.project_gid, target)
    clock.advance(8 * HOUR - 1)
    await emulator.wait_idle()
    assert len(target.deliveries) == 1
    clock.advance(1)
    await emulator.wait_idle()
    clock.advance(8 * HOUR)
    await emulator.wait_idle()
    assert [received.body for received in target.deliveries] == [b'{"events":[]}'] * 3
    assert all(verify(secret, received) for received in target.deliveries)
    record = (await rest.call("GET", f"/webhooks/{gid}")).json()["data"]
    assert record["last_success_at"] == "2024-01-01T16:00:00.000Z"


async def test_a_receiver_that_answers_too_slowly_counts_as_a_failure(clock: ManualClock) -> None:
    """A delivery not answered within delivery_timeout is a failure with a timeout message."""
    async with (
        TargetServer() as target,
        Emulator(clock=clock, batch_window=0.0, delivery_timeout=0.05) as emu,
        aiohttp.ClientSession() as session,
    ):
        rest = Rest(session, emu.base_url, emu.token, validate=False)
        gid, _ = await subscribe(rest, emu.world.project_gid, target)
        target.hold = anyio.Event()
        emu.emit({"action": "changed", "resource": {"gid": emu.world.project_gid}})
        await emu.wait_idle()
        target.hold.set()
        assert emu.webhooks[gid].delivery_retry_count == 1
        assert emu.webhooks[gid].last_failure_content == "the target did not respond within 0.05 seconds"
        assert emu.deliveries[-1].status is None


async def test_an_unreachable_receiver_counts_as_a_failure(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """When the target stops listening, deliveries fail with a connection message."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    await target.aclose()
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    assert "could not connect to the target" in emulator.webhooks[gid].last_failure_content
    assert emulator.deliveries[-1].error is not None


async def test_deleting_a_webhook_drops_its_queued_events(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Events queued in the batch window are not sent once the webhook is deleted."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await rest.call("DELETE", f"/webhooks/{gid}")
    await emulator.wait_idle()
    assert len(target.deliveries) == 1


async def test_deliveries_are_recorded_with_status_body_and_signature(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """emulator.deliveries mirrors what the target saw; the record's repr hides the signature."""
    gid, secret = await subscribe(rest, emulator.world.project_gid, target)
    emulator.emit({"action": "x", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    heartbeat, record = emulator.deliveries
    assert heartbeat.events == []
    assert record.webhook_gid == gid
    assert record.kind == "delivery"
    assert record.succeeded
    assert record.events == [{"action": "x", "resource": {"gid": emulator.world.project_gid}}]
    assert record.body == target.deliveries[-1].body
    assert record.signature == target.deliveries[-1].headers["X-Hook-Signature"]
    assert record.signature not in repr(record)
    assert secret not in repr(emulator.handshakes[0])


async def test_a_target_that_drops_the_connection_counts_as_a_failure(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """A connection closed without an answer is recorded as such and retried later."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    target.drop_connections = True
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await emulator.wait_idle()
    hook = emulator.webhooks[gid]
    assert hook.last_failure_content == "the target closed the connection without answering"
    assert hook.delivery_retry_count == 1


async def test_a_target_speaking_broken_http_counts_as_a_failure(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Garbage instead of an HTTP response is a failed delivery, not a crash of the emulator."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)

    async def garbage(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(b"NOT HTTP AT ALL\r\n\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, garbage)
        emulator.webhooks[gid].target = f"http://127.0.0.1:{port}/broken"
        emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
        await emulator.wait_idle()
        tg.cancel_scope.cancel()
    assert (
        emulator.webhooks[gid].last_failure_content
        == "the request to the target failed (ClientResponseError)"
    )


async def test_deleting_a_webhook_during_an_attempt_does_not_revive_it(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """An attempt in flight at deletion finishes, is recorded, and changes nothing."""
    gid, _ = await subscribe(rest, emulator.world.project_gid, target)
    target.hold = anyio.Event()
    target.delivery_status = 500
    emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}})
    await target.wait_for_deliveries(2)
    await rest.call("DELETE", f"/webhooks/{gid}")
    target.hold.set()
    await emulator.wait_idle()
    assert gid not in emulator.webhooks
    assert emulator.deliveries[-1].status == 500
    assert (await rest.call("GET", f"/webhooks/{gid}")).status == 404
