"""The webhook routes behave like Asana's: handshake, refusals, records, listing, update, delete."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import aiohttp
import anyio
import pytest

from asana_hooks.emulator import Emulator, ManualClock
from tests.emulator.rest_client import Rest
from tests.emulator.target_server import TargetServer

pytestmark = pytest.mark.anyio

FULL_KEYS = {
    "gid",
    "resource_type",
    "is_workspace_webhook",
    "active",
    "resource",
    "target",
    "created_at",
    "last_success_at",
    "last_failure_at",
    "last_failure_content",
    "delivery_retry_count",
    "next_attempt_after",
    "failure_deletion_timestamp",
    "filters",
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def signature(secret: str, body: bytes) -> str:
    """Asana's signature, computed independently of the emulator."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "wrong-token"])
async def test_requests_without_the_token_get_401_in_asanas_error_shape(rest: Rest, token: str) -> None:
    """A missing or wrong bearer token gets 401 with errors[].message and help."""
    reply = await rest.call("GET", "/users/me", token=token)
    assert reply.status == 401
    assert reply.error["message"] == "Not Authorized"
    assert "help" in reply.error


async def test_a_non_bearer_authorization_scheme_is_refused(emulator: Emulator) -> None:
    """Basic auth with the right token inside is still 401: only Bearer is accepted."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            emulator.base_url + "/users/me", headers={"Authorization": f"Basic {emulator.token}"}
        ) as response,
    ):
        assert response.status == 401


async def test_the_token_is_generated_and_redacted_from_repr(emulator: Emulator) -> None:
    """Without a token argument one is generated, and repr never shows it."""
    assert len(emulator.token) >= 32
    assert emulator.token not in repr(emulator)
    assert "<redacted>" in repr(emulator)


# -- create and handshake ------------------------------------------------------------------------


async def test_create_sends_the_handshake_to_the_full_target_while_the_post_is_open(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The handshake goes to the target with its query string, carries a hex secret and no body."""
    reply = await rest.create_webhook(emulator.world.project_gid, target.url("t1", "app=x&y=2"))
    assert reply.status == 201
    [handshake] = target.handshakes
    assert handshake.path_qs == "/hook/t1?app=x&y=2"
    assert handshake.body == b""
    assert re.fullmatch(r"[0-9a-f]{64}", handshake.headers["X-Hook-Secret"])
    assert reply.json()["X-Hook-Secret"] == handshake.headers["X-Hook-Secret"]


async def test_create_returns_the_full_record_and_a_location(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The 201 carries every field real Asana shows, in its formats, and a Location header."""
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    record = reply.json()["data"]
    assert set(record) == FULL_KEYS
    assert record["resource_type"] == "webhook"
    assert record["resource"] == {
        "gid": emulator.world.project_gid,
        "resource_type": "project",
        "name": "Launch",
    }
    assert record["is_workspace_webhook"] is False
    assert record["active"] is True
    assert record["created_at"] == "2024-01-01T00:00:00.000Z"
    assert TIMESTAMP.match(record["last_success_at"])
    assert record["last_failure_at"] is None
    assert record["last_failure_content"] == ""
    assert record["delivery_retry_count"] == 0
    assert record["filters"] == []
    assert reply.headers["Location"] == f"{emulator.base_url}/webhooks/{record['gid']}"


async def test_the_first_heartbeat_arrives_signed_before_the_create_returns(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Right after the handshake a signed {"events":[]} is delivered, so the 201 shows a success."""
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    secret = reply.json()["X-Hook-Secret"]
    [heartbeat] = target.deliveries
    assert heartbeat.body == b'{"events":[]}'
    assert heartbeat.headers["X-Hook-Signature"] == signature(secret, heartbeat.body)
    assert reply.json()["data"]["last_success_at"] == "2024-01-01T00:00:00.000Z"


async def test_a_204_echo_establishes_the_webhook(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """204 No Content with the echoed secret is as good as 200."""
    target.handshake_status = 204
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    assert reply.status == 201


@pytest.mark.parametrize(
    ("status", "echo", "reason"),
    [
        (401, "same", "answered 401 instead of 200 or 204"),
        (202, "same", "answered 202 instead of 200 or 204"),
        (200, None, "did not include the X-Hook-Secret header"),
        (200, "0badc0de0badc0de0badc0de0badc0de", "does not match the one sent"),
    ],
)
async def test_a_failed_handshake_refuses_the_create_and_creates_nothing(
    emulator: Emulator, rest: Rest, target: TargetServer, status: int, echo: str | None, reason: str
) -> None:
    """A wrong status or a missing/different echo gives 400 saying why, and no webhook exists."""
    target.handshake_status = status
    target.echo = echo
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    assert reply.status == 400
    assert reply.error["message"].startswith("Webhook handshake failed: ")
    assert reason in reply.error["message"]
    listing = await rest.call("GET", "/webhooks", params={"workspace": emulator.world.workspace_gid})
    assert listing.json()["data"] == []
    assert target.deliveries == []


async def test_a_handshake_the_target_never_answers_times_out(
    clock: ManualClock, target: TargetServer
) -> None:
    """A target that holds the handshake past the timeout fails the create with a timeout message."""
    target.hold = anyio.Event()
    async with Emulator(clock=clock, handshake_timeout=0.05) as emu, aiohttp.ClientSession() as session:
        rest = Rest(session, emu.base_url, emu.token, validate=False)
        reply = await rest.create_webhook(emu.world.project_gid, target.url())
        assert reply.status == 400
        assert "did not respond within 0.05 seconds" in reply.error["message"]
        assert emu.webhooks == {}


async def test_a_refused_connection_fails_the_handshake(emulator: Emulator, rest: Rest) -> None:
    """Nobody listening at the target: 400 saying the connection could not be made."""
    async with TargetServer() as gone:
        url = gone.url()
    reply = await rest.create_webhook(emulator.world.project_gid, url)
    assert reply.status == 400
    assert "could not connect to the target" in reply.error["message"]


async def test_the_secret_never_appears_in_a_handshake_error(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The failure message names the cause, not the secret that was sent."""
    target.handshake_status = 500
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    sent = target.handshakes[0].headers["X-Hook-Secret"]
    assert sent not in reply.body.decode()


# -- refusals ------------------------------------------------------------------------------------


async def test_strict_mode_refuses_a_loopback_target_with_403_naming_it(
    clock: ManualClock, target: TargetServer
) -> None:
    """Like Asana, strict mode refuses localhost-style targets before any handshake."""
    async with Emulator(clock=clock, strict=True) as emu, aiohttp.ClientSession() as session:
        rest = Rest(session, emu.base_url, emu.token, validate=False)
        reply = await rest.create_webhook(emu.world.project_gid, target.url())
        assert reply.status == 403
        assert reply.error["message"] == f"Invalid webhook target: {target.url()}"
        assert target.handshakes == []


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "https:///no-host", "http://example.com:99999/x"])
async def test_targets_that_are_not_http_urls_are_refused_even_when_permissive(
    emulator: Emulator, rest: Rest, url: str
) -> None:
    """Non-http(s) schemes, missing hosts and impossible ports get 403 in every mode."""
    reply = await rest.call(
        "POST",
        "/webhooks",
        body={"data": {"resource": emulator.world.project_gid, "target": url}},
        conform=False,
    )
    assert reply.status == 403
    assert url in reply.error["message"]


@pytest.mark.parametrize("missing", ["resource", "target"])
async def test_create_without_resource_or_target_is_a_400(
    emulator: Emulator, rest: Rest, target: TargetServer, missing: str
) -> None:
    """Both keys are required: 400 '<key>: Missing input'."""
    data = {"resource": emulator.world.project_gid, "target": target.url()}
    del data[missing]
    reply = await rest.call("POST", "/webhooks", body={"data": data}, conform=False)
    assert reply.status == 400
    assert reply.error["message"] == f"{missing}: Missing input"


async def test_an_unknown_resource_is_a_400_not_a_recognized_id(rest: Rest, target: TargetServer) -> None:
    """The emulator answers an unknown resource gid in Asana's input-validation style."""
    reply = await rest.create_webhook("999", target.url())
    assert reply.status == 400
    assert reply.error["message"] == "resource: Not a recognized ID: 999"


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"", 400), (b"{not json", 400), (b'{"resource": "1"}', 400), (b'{"data": []}', 400)],
)
async def test_malformed_bodies_are_400(emulator: Emulator, raw: bytes, status: int) -> None:
    """Empty, non-JSON, envelope-less or non-object bodies are refused with 400."""
    headers = {"Authorization": f"Bearer {emulator.token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.base_url + "/webhooks", data=raw, headers=headers) as response,
    ):
        assert response.status == status
        assert "errors" in await response.json()


async def test_the_same_resource_and_target_twice_is_a_403_duplicate(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Asana's exact duplicate message, and no second handshake."""
    await rest.create_webhook(emulator.world.project_gid, target.url())
    reply = await rest.create_webhook(emulator.world.project_gid, target.url())
    assert reply.status == 403
    assert reply.error["message"] == (
        "Duplicated webhook. You already have an existing webhook for the given resource and target. "
        "Delete the old one before creating another."
    )
    assert len(target.handshakes) == 1


async def test_a_duplicate_established_during_the_handshake_is_refused_afterwards(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Two concurrent identical creates: the second to finish its handshake gets the 403."""
    replies = []

    async def create() -> None:
        replies.append(await rest.create_webhook(emulator.world.project_gid, target.url()))

    target.hold = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(create)
        tg.start_soon(create)
        await target.wait_for_handshakes(2)
        target.hold.set()
    assert sorted(reply.status for reply in replies) == [201, 403]
    assert len(emulator.webhooks) == 1


async def test_a_form_encoded_create_works_like_the_curl_example(
    emulator: Emulator, target: TargetServer
) -> None:
    """`-d resource=... -d target=...` creates the webhook, as in Asana's reference."""
    form = {"resource": emulator.world.project_gid, "target": target.url()}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            emulator.base_url + "/webhooks",
            data=form,
            headers={"Authorization": f"Bearer {emulator.token}"},
        ) as response,
    ):
        assert response.status == 201
        assert (await response.json())["data"]["target"] == target.url()


# -- filters -------------------------------------------------------------------------------------


async def test_filters_are_echoed_with_unset_keys_as_null(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Returned filters carry all four keys, unset ones null, like real Asana."""
    reply = await rest.create_webhook(
        emulator.world.project_gid,
        target.url(),
        [{"resource_type": "task", "action": "changed", "fields": ["name"]}],
    )
    assert reply.json()["data"]["filters"] == [
        {"resource_type": "task", "resource_subtype": None, "action": "changed", "fields": ["name"]}
    ]


@pytest.mark.parametrize(
    "filters",
    [
        None,
        [],
        [{"resource_type": "task", "action": "changed"}],
        [{"resource_type": "project_status", "action": "changed"}],
        [{"resource_type": "project", "action": "changed", "fields": ["name"]}],
        [{"resource_type": "team_membership", "action": "changed"}],
    ],
)
async def test_workspace_webhooks_need_allow_listed_filters(
    emulator: Emulator, rest: Rest, target: TargetServer, filters: list[dict[str, str]] | None
) -> None:
    """No filters, or one outside the allow-list, gives invalid_filters_for_larger_scoped_webhooks."""
    reply = await rest.create_webhook(emulator.world.workspace_gid, target.url(), filters)
    assert reply.status == 400
    assert reply.error["error"] == "invalid_filters_for_larger_scoped_webhooks"
    assert reply.error["message"] == (
        "Webhooks for larger scoped resources must have at least one filter and all filters must be "
        "in our whitelist."
    )
    assert target.handshakes == []


@pytest.mark.parametrize(
    ("resource", "filters"),
    [
        ("workspace_gid", [{"resource_type": "project", "action": "added"}]),
        ("team_gid", [{"resource_type": "team_membership", "action": "removed"}]),
        ("portfolio_gid", [{"resource_type": "project", "action": "deleted"}]),
        ("workspace_gid", [{"resource_type": "workspace_membership", "action": "added"}]),
    ],
)
async def test_larger_scoped_webhooks_with_allowed_filters_are_created(
    emulator: Emulator, rest: Rest, target: TargetServer, resource: str, filters: list[dict[str, str]]
) -> None:
    """Allow-listed filters on workspaces, teams and portfolios pass."""
    reply = await rest.create_webhook(getattr(emulator.world, resource), target.url(), filters)
    assert reply.status == 201
    assert reply.json()["data"]["is_workspace_webhook"] is (resource == "workspace_gid")


async def test_fields_are_only_valid_with_action_changed(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """`fields` with action `added` is a 400 naming the filter."""
    reply = await rest.create_webhook(
        emulator.world.project_gid,
        target.url(),
        [{"resource_type": "task", "action": "added", "fields": ["x"]}],
    )
    assert reply.status == 400
    assert reply.error["message"] == "filters[0].fields: Only valid when action is 'changed'"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ("task", "filters: Value is not an array"),
        (["task"], "filters[0]: Value is not an object"),
        ([{"action": 3}], "filters[0].action: Value is not a string"),
        ([{"action": "changed", "fields": "name"}], "filters[0].fields: Value is not an array of strings"),
    ],
)
async def test_malformed_filters_are_400(
    emulator: Emulator, rest: Rest, target: TargetServer, filters: object, message: str
) -> None:
    """Filters of the wrong JSON types are refused with a message naming the spot."""
    reply = await rest.call(
        "POST",
        "/webhooks",
        body={"data": {"resource": emulator.world.project_gid, "target": target.url(), "filters": filters}},
        conform=False,
    )
    assert reply.status == 400
    assert reply.error["message"] == message


# -- list ----------------------------------------------------------------------------------------


async def make_webhooks(emulator: Emulator, rest: Rest, target: TargetServer, count: int) -> list[str]:
    """Create `count` webhooks on the project (distinct targets); return their gids."""
    gids = []
    for index in range(count):
        reply = await rest.create_webhook(emulator.world.project_gid, target.url(f"t{index}"))
        gids.append(reply.json()["data"]["gid"])
    return gids


async def test_listing_needs_a_workspace(rest: Rest) -> None:
    """GET /webhooks without workspace is 400."""
    reply = await rest.call("GET", "/webhooks", conform=False)
    assert reply.status == 400
    assert reply.error["message"] == "workspace: Missing input"


async def test_listing_an_unknown_workspace_is_400(rest: Rest) -> None:
    """An unknown workspace gid is not a recognized ID."""
    reply = await rest.call("GET", "/webhooks", params={"workspace": "42"})
    assert reply.status == 400


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
async def test_a_limit_outside_1_to_100_is_400(emulator: Emulator, rest: Rest, limit: str) -> None:
    """Limits must be integers from 1 to 100."""
    params = {"workspace": emulator.world.workspace_gid, "limit": limit}
    reply = await rest.call("GET", "/webhooks", params=params, conform=False)
    assert reply.status == 400
    assert reply.error["message"].startswith("limit: ")


async def test_listing_returns_compact_records_by_default(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Without opt_fields a listed webhook has only gid, resource_type, active, resource and target."""
    await make_webhooks(emulator, rest, target, 1)
    reply = await rest.call("GET", "/webhooks", params={"workspace": emulator.world.workspace_gid})
    [record] = reply.json()["data"]
    assert set(record) == {"gid", "resource_type", "active", "resource", "target"}
    assert reply.json()["next_page"] is None


async def test_listing_pages_with_opaque_offsets_until_next_page_is_null(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """limit=2 over five webhooks: pages of 2, 2, 1 with next_page offset/path/uri, then null."""
    gids = await make_webhooks(emulator, rest, target, 5)
    params = {"workspace": emulator.world.workspace_gid, "limit": "2", "opt_fields": "target"}
    seen: list[str] = []
    pages = 0
    while True:
        reply = await rest.call("GET", "/webhooks", params=params)
        pages += 1
        page = reply.json()
        seen += [record["gid"] for record in page["data"]]
        next_page = page["next_page"]
        if next_page is None:
            break
        assert next_page["path"].startswith("/webhooks?")
        assert f"offset={next_page['offset']}" in next_page["path"]
        assert "opt_fields=target" in next_page["path"]
        assert next_page["uri"] == emulator.base_url + next_page["path"]
        params = {**params, "offset": next_page["offset"]}
    assert seen == gids
    assert pages == 3


async def test_a_full_last_page_has_a_null_next_page(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """When exactly `limit` webhooks remain, next_page is null rather than an empty page."""
    await make_webhooks(emulator, rest, target, 2)
    params = {"workspace": emulator.world.workspace_gid, "limit": "2"}
    reply = await rest.call("GET", "/webhooks", params=params)
    assert len(reply.json()["data"]) == 2
    assert reply.json()["next_page"] is None


async def test_an_offset_not_issued_for_this_query_is_400(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Invented offsets, and offsets from a different query, are refused."""
    await make_webhooks(emulator, rest, target, 2)
    workspace = emulator.world.workspace_gid
    first = await rest.call("GET", "/webhooks", params={"workspace": workspace, "limit": "1"})
    offset = first.json()["next_page"]["offset"]
    invented = await rest.call("GET", "/webhooks", params={"workspace": workspace, "offset": "bogus"})
    other_query = await rest.call(
        "GET",
        "/webhooks",
        params={"workspace": workspace, "resource": emulator.world.task_gids[0], "offset": offset},
    )
    assert invented.status == 400
    assert other_query.status == 400


async def test_listing_by_resource_returns_only_that_resources_webhooks(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The optional resource parameter narrows the list."""
    await make_webhooks(emulator, rest, target, 1)
    on_task = await rest.create_webhook(emulator.world.task_gids[0], target.url("task"))
    reply = await rest.call(
        "GET",
        "/webhooks",
        params={"workspace": emulator.world.workspace_gid, "resource": emulator.world.task_gids[0]},
    )
    assert [record["gid"] for record in reply.json()["data"]] == [on_task.json()["data"]["gid"]]


async def test_opt_fields_select_fields_and_nested_fields(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """opt_fields keeps gid plus what was asked; resource.name keeps the resource's gid and name."""
    await make_webhooks(emulator, rest, target, 1)
    params = {
        "workspace": emulator.world.workspace_gid,
        "opt_fields": "last_failure_content,resource.name,filters.action,created_at",
    }
    [record] = (await rest.call("GET", "/webhooks", params=params)).json()["data"]
    assert record == {
        "gid": record["gid"],
        "last_failure_content": "",
        "resource": {"gid": emulator.world.project_gid, "name": "Launch"},
        "filters": [],
        "created_at": "2024-01-01T00:00:00.000Z",
    }


# -- get, update, delete -------------------------------------------------------------------------


async def test_get_returns_the_full_record(emulator: Emulator, rest: Rest, target: TargetServer) -> None:
    """GET /webhooks/{gid} has every field."""
    [gid] = await make_webhooks(emulator, rest, target, 1)
    reply = await rest.call("GET", f"/webhooks/{gid}")
    assert reply.status == 200
    assert set(reply.json()["data"]) == FULL_KEYS


async def test_opt_fields_on_get_and_nested_filters(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """On a single record, opt_fields=filters.action keeps only that key in each filter."""
    created = await rest.create_webhook(
        emulator.world.project_gid, target.url(), [{"resource_type": "task", "action": "added"}]
    )
    gid = created.json()["data"]["gid"]
    reply = await rest.call("GET", f"/webhooks/{gid}", params={"opt_fields": "filters.action,filters"})
    assert reply.json()["data"]["filters"][0]["resource_type"] == "task"
    reply = await rest.call(
        "GET", f"/webhooks/{gid}", params={"opt_fields": "filters.action,target.x,nonsense"}, conform=False
    )
    assert reply.json()["data"] == {"gid": gid, "filters": [{"action": "added"}], "target": target.url()}


async def test_opt_pretty_indents_the_json(emulator: Emulator, rest: Rest, target: TargetServer) -> None:
    """opt_pretty gives the same data, indented over several lines."""
    [gid] = await make_webhooks(emulator, rest, target, 1)
    pretty = await rest.call("GET", f"/webhooks/{gid}", params={"opt_pretty": "true"})
    compact = await rest.call("GET", f"/webhooks/{gid}")
    assert b"\n  " in pretty.body
    assert b"\n" not in compact.body
    assert pretty.json() == compact.json()


async def test_unknown_webhooks_are_404(rest: Rest) -> None:
    """GET, PUT and DELETE of an unknown gid answer 404 with an errors body."""
    for method, body in (("GET", None), ("PUT", {"data": {"filters": []}}), ("DELETE", None)):
        reply = await rest.call(method, "/webhooks/123", body=body)
        assert reply.status == 404
        assert reply.error["message"] == "Unknown object: 123"


async def test_put_replaces_the_filters_wholesale(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """The previous filters are gone after a PUT; resource and target stay."""
    created = await rest.create_webhook(
        emulator.world.project_gid, target.url(), [{"resource_type": "task", "action": "added"}]
    )
    gid = created.json()["data"]["gid"]
    reply = await rest.call(
        "PUT", f"/webhooks/{gid}", body={"data": {"filters": [{"resource_type": "story", "action": "added"}]}}
    )
    assert reply.status == 200
    data = reply.json()["data"]
    assert data["filters"] == [
        {"resource_type": "story", "resource_subtype": None, "action": "added", "fields": None}
    ]
    assert data["target"] == target.url()


async def test_put_without_filters_or_with_bad_ones_is_400(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """A PUT needs filters, and a workspace webhook keeps needing allow-listed ones."""
    created = await rest.create_webhook(
        emulator.world.workspace_gid, target.url(), [{"resource_type": "project", "action": "added"}]
    )
    gid = created.json()["data"]["gid"]
    missing = await rest.call("PUT", f"/webhooks/{gid}", body={"data": {}}, conform=False)
    emptied = await rest.call("PUT", f"/webhooks/{gid}", body={"data": {"filters": []}})
    assert missing.status == 400
    assert emptied.status == 400
    assert emptied.error["error"] == "invalid_filters_for_larger_scoped_webhooks"


async def test_delete_answers_an_empty_data_object_and_the_webhook_is_gone(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """DELETE gives {"data": {}}; a later GET is 404 and no more deliveries go out."""
    [gid] = await make_webhooks(emulator, rest, target, 1)
    reply = await rest.call("DELETE", f"/webhooks/{gid}")
    assert reply.status == 200
    assert reply.json() == {"data": {}}
    assert (await rest.call("GET", f"/webhooks/{gid}")).status == 404
    assert emulator.emit({"action": "changed", "resource": {"gid": emulator.world.project_gid}}) == 0


async def test_create_with_opt_fields_and_body_options(
    emulator: Emulator, rest: Rest, target: TargetServer
) -> None:
    """Create honours opt_fields in the query and the body's options.fields/pretty alternative."""
    by_query = await rest.create_webhook(emulator.world.project_gid, target.url("a"), opt_fields="target")
    assert by_query.json()["data"] == {"gid": by_query.json()["data"]["gid"], "target": target.url("a")}
    by_options = await rest.call(
        "POST",
        "/webhooks",
        body={
            "data": {"resource": emulator.world.project_gid, "target": target.url("b")},
            "options": {"fields": ["active"], "pretty": True},
        },
        conform=False,
    )
    assert set(by_options.json()["data"]) == {"gid", "active"}
    assert b"\n" in by_options.body


# -- routing -------------------------------------------------------------------------------------


async def test_unknown_routes_and_methods_answer_in_asanas_error_shape(rest: Rest) -> None:
    """404 for an unknown path, 405 for a wrong method, both with errors[]."""
    unknown = await rest.call("GET", "/nothing-here")
    wrong_method = await rest.call("PATCH", "/users/me")
    assert unknown.status == 404
    assert wrong_method.status == 405
    assert json.loads(unknown.body)["errors"][0]["message"] == "No matching route for request"
    assert wrong_method.error["message"] == "Method not allowed"


async def test_a_get_with_a_body_is_refused_like_asanas_cdn_does(emulator: Emulator) -> None:
    """GET requests carrying a body get 400, as on Asana since January 2024."""
    headers = {"Authorization": f"Bearer {emulator.token}", "Content-Type": "application/json"}
    params = {"workspace": emulator.world.workspace_gid}
    async with (
        aiohttp.ClientSession() as session,
        session.get(emulator.base_url + "/webhooks", params=params, data=b"{}", headers=headers) as response,
    ):
        assert response.status == 400
        assert (await response.json())["errors"][0]["message"] == "GET requests must not have a body"


async def test_webhook_traffic_is_really_checked_against_the_spec(spec_available: None, rest: Rest) -> None:
    """With the spec present the client validates, and the validator rejects a malformed record."""
    from tests import oas

    assert rest.validates
    with pytest.raises(Exception, match="gid"):
        oas.validate_response("GET", "http://x/api/1.0/webhooks/1", 200, b'{"data": {"gid": 5}}')
