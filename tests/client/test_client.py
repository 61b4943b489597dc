"""AsanaClient against a scripted fake Asana on loopback: wire format, paging, retries, errors, secrecy."""

from __future__ import annotations

import logging
import socket
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import pytest

from asana_hooks.client import TOKEN_ENV_VAR, AsanaClient, user_agent
from asana_hooks.config import ClientConfig, RetryPolicy
from asana_hooks.errors import (
    AsanaAPIError,
    AsanaHooksError,
    BadRequest,
    DuplicateWebhook,
    InvalidRequestError,
    InvalidTarget,
    LargerScopeFiltersRequired,
    NotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
    TransportError,
    Unauthorized,
    UnexpectedResponse,
    WebhookNotFound,
)
from asana_hooks.models import WebhookFilter
from tests.client.conftest import (
    PROJECT,
    SECRET,
    TARGET,
    TOKEN,
    WEBHOOK_GID,
    WORKSPACE,
    SleepRecorder,
    make_client,
)
from tests.client.fake_asana import FakeAsana

pytestmark = pytest.mark.anyio

RATE_LIMIT_BODY = {
    "errors": [
        {
            "message": "You've made too many requests and hit a rate limit. "
            "Please retry after the given amount of time."
        }
    ]
}
PHRASE = "6 sad squid snuggle softly"
SERVER_ERROR_BODY = {"errors": [{"message": "Server Error", "phrase": PHRASE}]}


def full_record(gid: str = WEBHOOK_GID, target: str = TARGET, **extra: Any) -> dict[str, Any]:
    """A full webhook record shaped like the real 201 Asana sent (observed 2024-10)."""
    return {
        "gid": gid,
        "resource_type": "webhook",
        "is_workspace_webhook": False,
        "last_success_at": "2024-10-24T04:14:33.531Z",
        "last_failure_content": "",
        "last_failure_at": None,
        "created_at": "2024-10-24T04:14:32.793Z",
        "target": target,
        "next_attempt_after": None,
        "active": True,
        "failure_deletion_timestamp": None,
        "delivery_retry_count": 0,
        "filters": [],
        "resource": {"gid": PROJECT, "resource_type": "project", "name": "project-1"},
        **extra,
    }


def compact_record(index: int) -> dict[str, Any]:
    """A compact webhook record as the list endpoint returns by default."""
    return {
        "gid": str(1400000000001000 + index),
        "resource_type": "webhook",
        "active": True,
        "resource": {"gid": PROJECT, "resource_type": "project", "name": "project-1"},
        "target": f"https://hooks.example.test/asana/h/p{index}",
    }


def page(items: list[dict[str, Any]], offset: str | None) -> dict[str, Any]:
    """A list page with ``next_page`` pointing at ``offset`` (null on the last page)."""
    next_page = None
    if offset is not None:
        query = f"workspace={WORKSPACE}&limit=100&offset={offset}"
        next_page = {
            "offset": offset,
            "path": f"/webhooks?{query}",
            "uri": f"https://app.asana.com/api/1.0/webhooks?{query}",
        }
    return {"data": items, "next_page": next_page}


def created_body(gid: str = WEBHOOK_GID, target: str = TARGET) -> dict[str, Any]:
    """The 201 of ``POST /webhooks``: the full record and the top-level ``X-Hook-Secret``."""
    return {"data": full_record(gid, target), "X-Hook-Secret": SECRET}


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, read, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- happy paths --------------------------------------------------------------------------------


async def test_create_webhook_returns_the_webhook_and_the_secret_of_the_201(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """create_webhook sends one compact envelope with the bearer token and returns record + secret."""
    fake_asana.script("POST", "/webhooks", 201, created_body())

    created = await client.create_webhook(PROJECT, TARGET)

    assert created.webhook.gid == WEBHOOK_GID
    assert created.webhook.target == TARGET
    assert created.webhook.active is True
    assert created.secret == SECRET
    assert SECRET not in repr(created)
    (sent,) = fake_asana.requests
    assert (
        sent.body
        == b'{"data":{"resource":"1200000000000002","target":"https://hooks.example.test/asana/h/t1"}}'
    )
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"].startswith("asana-hooks")
    assert sent.query == ()


async def test_create_webhook_sends_filters_without_null_keys(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """Filters given as models or mappings go out without their unset keys."""
    fake_asana.script("POST", "/webhooks", 201, created_body())
    filters: list[WebhookFilter | dict[str, Any]] = [
        WebhookFilter(resource_type="task", action="changed", fields=["due_on"]),
        {"resource_type": "story", "action": "added", "resource_subtype": None},
    ]

    await client.create_webhook(PROJECT, TARGET, filters, opt_fields=["active", "filters"])

    (sent,) = fake_asana.requests
    assert sent.json()["data"]["filters"] == [
        {"resource_type": "task", "action": "changed", "fields": ["due_on"]},
        {"resource_type": "story", "action": "added"},
    ]
    assert sent.query == (("opt_fields", "active,filters"),)


async def test_get_webhook_returns_the_full_record(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """get_webhook reads GET /webhooks/{gid} into a Webhook, with opt_fields and opt_pretty sent."""
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 200, {"data": full_record()})

    webhook = await client.get_webhook(WEBHOOK_GID, opt_fields=["last_success_at", "target"], opt_pretty=True)

    assert webhook.gid == WEBHOOK_GID
    assert webhook.last_failure_at is None
    assert webhook.last_failure_content == ""
    assert webhook.is_workspace_webhook is False
    (sent,) = fake_asana.requests
    assert sent.query == (("opt_fields", "last_success_at,target"), ("opt_pretty", "true"))
    assert sent.body == b""
    assert "Content-Type" not in sent.headers


async def test_update_webhook_replaces_the_filters(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """update_webhook PUTs {"data": {"filters": [...]}} and returns the updated record."""
    echoed = {"resource_type": "task", "resource_subtype": None, "action": "changed", "fields": None}
    fake_asana.script("PUT", f"/webhooks/{WEBHOOK_GID}", 200, {"data": full_record(filters=[echoed])})

    webhook = await client.update_webhook(
        WEBHOOK_GID, [{"resource_type": "task", "action": "changed"}], opt_pretty=True
    )

    assert webhook.filters == [WebhookFilter(resource_type="task", action="changed")]
    (sent,) = fake_asana.requests
    assert sent.body == b'{"data":{"filters":[{"resource_type":"task","action":"changed"}]}}'
    assert sent.query == (("opt_pretty", "true"),)


async def test_delete_webhook_sends_no_body(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """delete_webhook sends a bodiless DELETE with opt_pretty and accepts 200 {"data": {}}."""
    fake_asana.script("DELETE", f"/webhooks/{WEBHOOK_GID}", 200, {"data": {}})

    await client.delete_webhook(WEBHOOK_GID, opt_pretty=True)

    (sent,) = fake_asana.requests
    assert (sent.method, sent.body, sent.query) == ("DELETE", b"", (("opt_pretty", "true"),))


async def test_request_json_returns_data_of_any_route(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """request_json GETs other routes with params and returns the decoded data member."""
    me = {"gid": "1500000000000005", "resource_type": "user", "name": "Ada"}
    fake_asana.script("GET", "/users/me", 200, {"data": me})

    assert await client.request_json("get", "/users/me", params={"opt_fields": "name"}) == me
    assert fake_asana.requests[0].query == (("opt_fields", "name"),)


async def test_request_json_envelopes_write_bodies_once(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """request_json wraps data in one envelope, also when the caller already wrapped it."""
    task = {"gid": "1300000000000003", "resource_type": "task", "name": "Ship it"}
    fake_asana.script("POST", "/tasks", 201, {"data": task}, times=2)

    await client.request_json("POST", "/tasks", data={"name": "Ship it", "projects": [PROJECT]})
    await client.request_json("POST", "/tasks", data={"data": {"name": "Ship it", "projects": [PROJECT]}})

    first, second = fake_asana.requests
    assert first.body == second.body == b'{"data":{"name":"Ship it","projects":["1200000000000002"]}}'


async def test_request_json_refuses_a_get_body_and_foreign_hosts_before_sending(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """A GET with data, an absolute URL and an unknown method are refused locally."""
    with pytest.raises(InvalidRequestError, match="cannot carry a body"):
        await client.request_json("GET", "/users/me", data={"name": "x"})
    with pytest.raises(InvalidRequestError, match="API path"):
        await client.request_json("GET", "https://evil.example.test/steal")
    with pytest.raises(InvalidRequestError, match="API path"):
        await client.request_json("GET", "//evil.example.test/steal")
    with pytest.raises(InvalidRequestError, match="unsupported HTTP method"):
        await client.request_json("TRACE", "/users/me")
    assert fake_asana.requests == []


# -- listing (case W17) -------------------------------------------------------------------------


async def test_list_webhooks_follows_next_page_offset_with_opt_fields_on_every_page(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """Three pages are read in order; each request repeats opt_fields and opt_pretty."""
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(0), compact_record(1)], "tok-a"))
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(2), compact_record(3)], "tok-b"))
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(4)], None))

    gids = [
        webhook.gid
        async for webhook in client.list_webhooks(
            WORKSPACE, resource=PROJECT, limit=2, opt_fields=["active", "target"], opt_pretty=True
        )
    ]

    assert gids == [str(1400000000001000 + i) for i in range(5)]
    base = (("workspace", WORKSPACE), ("resource", PROJECT), ("limit", "2"))
    options = (("opt_fields", "active,target"), ("opt_pretty", "true"))
    assert [r.query for r in fake_asana.requests] == [
        (*base, *options),
        (*base, ("offset", "tok-a"), *options),
        (*base, ("offset", "tok-b"), *options),
    ]


async def test_w17_list_yields_103_webhooks_in_exactly_two_requests(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """100 items plus offset tok-a, then 3 items and next_page null: 103 webhooks, 2 requests."""
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(i) for i in range(100)], "tok-a"))
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(i) for i in range(100, 103)], None))

    webhooks = [webhook async for webhook in client.list_webhooks(WORKSPACE)]

    assert len(webhooks) == 103
    assert len({w.gid for w in webhooks}) == 103
    assert [r.query for r in fake_asana.requests] == [
        (("workspace", WORKSPACE), ("limit", "100")),
        (("workspace", WORKSPACE), ("limit", "100"), ("offset", "tok-a")),
    ]


@pytest.mark.parametrize("limit", [500, 0, 101, -1])
async def test_w17_list_refuses_a_limit_outside_1_to_100_without_sending(
    fake_asana: FakeAsana, client: AsanaClient, limit: int
) -> None:
    """limit=500 or 0 raises InvalidRequestError at the call; no request goes out."""
    with pytest.raises(InvalidRequestError, match=r"1\.\.100"):
        client.list_webhooks(WORKSPACE, limit=limit)
    with pytest.raises(InvalidRequestError, match=r"1\.\.100"):
        await client.list_webhook_page(WORKSPACE, limit=limit)
    assert fake_asana.requests == []


async def test_w17_list_requires_a_workspace(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """An empty workspace is refused locally."""
    with pytest.raises(InvalidRequestError, match="workspace"):
        client.list_webhooks("")
    assert fake_asana.requests == []


async def test_list_webhook_page_returns_one_page_and_its_offset(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """list_webhook_page reads a single page, passes the offset, and reports next_offset."""
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(7)], "tok-c"))

    result = await client.list_webhook_page(WORKSPACE, limit=1, offset="tok-b", opt_fields=["target"])

    assert [w.gid for w in result.webhooks] == ["1400000000001007"]
    assert result.next_offset == "tok-c"
    assert fake_asana.requests[0].query == (
        ("workspace", WORKSPACE),
        ("limit", "1"),
        ("offset", "tok-b"),
        ("opt_fields", "target"),
    )


async def test_list_stops_when_the_server_repeats_an_offset(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """A next_page.offset already followed raises UnexpectedResponse instead of paging forever."""
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(0)], "tok-a"), times=2)

    with pytest.raises(UnexpectedResponse, match="repeats"):
        async for _ in client.list_webhooks(WORKSPACE):
            pass
    assert len(fake_asana.requests) == 2


# -- envelope (case W15) ------------------------------------------------------------------------


async def test_w15_a_caller_envelope_is_sent_exactly_once(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """create_webhook({"data": {...}}) puts exactly one data envelope on the wire."""
    fake_asana.script("POST", "/webhooks", 201, created_body())

    created = await client.create_webhook({"data": {"resource": PROJECT, "target": TARGET}})

    assert created.webhook.gid == WEBHOOK_GID
    (sent,) = fake_asana.requests
    assert (
        sent.body
        == b'{"data":{"resource":"1200000000000002","target":"https://hooks.example.test/asana/h/t1"}}'
    )


async def test_w15_a_double_envelope_is_refused_before_sending(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """{"data": {"data": {...}}} raises InvalidRequestError naming the double envelope; nothing is sent."""
    with pytest.raises(InvalidRequestError, match="enveloped twice"):
        await client.create_webhook({"data": {"data": {"resource": PROJECT, "target": TARGET}}})
    assert fake_asana.requests == []


# -- rate limits and retries (case W16) ---------------------------------------------------------


async def test_w16a_retry_after_is_honoured_before_the_second_attempt(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """GET 429 with Retry-After: 2, then 200: the client sleeps 2 s once and returns the page."""
    fake_asana.script("GET", "/webhooks", 429, RATE_LIMIT_BODY, headers={"Retry-After": "2"})
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(0)], None))

    webhooks = [w async for w in client.list_webhooks(WORKSPACE)]

    assert len(webhooks) == 1
    assert sleeps.delays == [2.0]
    assert len(fake_asana.requests) == 2


@pytest.mark.parametrize("retry_after", [None, "soon", "NaN", "-1"])
async def test_w16bc_post_429_without_usable_retry_after_backs_off_exponentially(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder, retry_after: str | None
) -> None:
    """POST 429 with no or garbage Retry-After, then 201: the create is re-sent after 0 < delay <= 1 s."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    fake_asana.script("POST", "/webhooks", 429, RATE_LIMIT_BODY, headers=headers)
    fake_asana.script("POST", "/webhooks", 201, created_body())

    created = await client.create_webhook(PROJECT, TARGET)

    assert created.secret == SECRET
    assert sleeps.delays == [0.75]  # base 1 s, equal jitter with random 0.5: within [0.5, 1)
    first, second = fake_asana.requests
    assert first.body == second.body


async def test_w16_backoff_grows_and_stays_capped_across_attempts(
    fake_asana: FakeAsana, sleeps: SleepRecorder
) -> None:
    """Repeated 429s without Retry-After give growing, capped, nonzero delays, then RateLimited."""
    fake_asana.script("POST", "/webhooks", 429, RATE_LIMIT_BODY, times=6)
    policy = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_cap=4.0)

    async with make_client(fake_asana, sleeps, retry=policy) as asana:
        with pytest.raises(RateLimited) as caught:
            await asana.create_webhook(PROJECT, TARGET)

    assert caught.value.retry_after is None
    assert sleeps.delays == [0.75, 1.5, 3.0, 3.0, 3.0]
    assert len(fake_asana.requests) == 6


async def test_w16c_retries_are_capped_then_rate_limited_carries_the_last_retry_after(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """Five 429s (default max_attempts): four sleeps, then RateLimited with the fifth Retry-After."""
    for value in ["1", "2", "soon", "1", "7"]:
        fake_asana.script("GET", "/webhooks", 429, RATE_LIMIT_BODY, headers={"Retry-After": value})

    with pytest.raises(RateLimited) as caught:
        await client.list_webhook_page(WORKSPACE)

    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429
    assert sleeps.delays == [1.0, 2.0, 3.0, 1.0]  # "soon" -> backoff for attempt 3: 4 s * 0.75
    assert len(fake_asana.requests) == 5


async def test_w16_a_retry_after_above_the_policy_maximum_is_raised_at_once(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """Retry-After: 3600 (over max_retry_after 120) raises RateLimited without sleeping."""
    fake_asana.script("POST", "/webhooks", 429, RATE_LIMIT_BODY, headers={"Retry-After": "3600"})

    with pytest.raises(RateLimited) as caught:
        await client.create_webhook(PROJECT, TARGET)

    assert caught.value.retry_after == 3600.0
    assert sleeps.delays == []


async def test_w16d_twenty_concurrent_creates_never_exceed_fifteen_in_flight(
    fake_asana: FakeAsana, sleeps: SleepRecorder
) -> None:
    """20 concurrent create_webhook calls: the server sees at most 15 at once, and all 20 succeed."""
    fake_asana.script("POST", "/webhooks", 201, created_body(), hold=True, times=20)
    started = 0

    async def count_start(session: aiohttp.ClientSession, context: SimpleNamespace, params: object) -> None:
        nonlocal started
        started += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(count_start)
    secrets: list[str | None] = []

    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        config = ClientConfig(base_url=fake_asana.base_url)
        asana = AsanaClient(TOKEN, config=config, session=session, sleep=sleeps)

        async def create(index: int) -> None:
            created = await asana.create_webhook(PROJECT, f"https://hooks.example.test/asana/h/t{index}")
            secrets.append(created.secret)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                for index in range(20):
                    group.start_soon(create, index)
                await fake_asana.wait_in_flight(15)
                # By now every task has run up to its slot: without the cap all 20 would have started.
                assert started == 15
                fake_asana.release()
        await asana.aclose()

    assert secrets == [SECRET] * 20
    assert fake_asana.max_in_flight == 15
    assert started == 20
    assert sleeps.delays == []


async def test_a_write_slot_is_released_while_sleeping_before_a_retry(fake_asana: FakeAsana) -> None:
    """With one write slot, a create waiting out a 429 does not block another create meanwhile."""
    fake_asana.script("POST", "/webhooks", 429, RATE_LIMIT_BODY, headers={"Retry-After": "5"})
    fake_asana.script("POST", "/webhooks", 201, created_body(), times=2)
    other_done = anyio.Event()
    order: list[str] = []

    async def sleep_until_the_other_create_finished(delay: float) -> None:
        # Returns only after the second create went through the single slot.
        await other_done.wait()

    config = ClientConfig(base_url=fake_asana.base_url, max_concurrent_writes=1)
    async with AsanaClient(TOKEN, config=config, sleep=sleep_until_the_other_create_finished) as asana:

        async def first() -> None:
            await asana.create_webhook(PROJECT, TARGET)
            order.append("first")

        async def second() -> None:
            await fake_asana.wait_for_requests(1)  # the first create got its 429
            await asana.create_webhook(PROJECT, "https://hooks.example.test/asana/h/t2")
            order.append("second")
            other_done.set()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(first)
                group.start_soon(second)

    assert order == ["second", "first"]
    assert len(fake_asana.requests) == 3


async def test_a_500_on_get_is_retried_and_can_succeed(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """GET 500 then 200: the read is retried after a backoff and returns."""
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 500, SERVER_ERROR_BODY)
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 200, {"data": full_record()})

    webhook = await client.get_webhook(WEBHOOK_GID)

    assert webhook.gid == WEBHOOK_GID
    assert sleeps.delays == [0.75]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_on_get_raise_server_error_with_phrase_after_retries(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder, status: int
) -> None:
    """Persistent 5xx on GET: max_attempts requests, then ServerError carrying Asana's phrase."""
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", status, SERVER_ERROR_BODY, times=5)

    with pytest.raises(ServerError) as caught:
        await client.get_webhook(WEBHOOK_GID)

    assert caught.value.status == status
    assert caught.value.phrase == PHRASE
    assert PHRASE in str(caught.value)
    assert len(fake_asana.requests) == 5
    assert len(sleeps.delays) == 4


async def test_a_500_on_post_is_not_retried(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """POST 500 raises ServerError at once: the write may have taken effect."""
    fake_asana.script("POST", "/webhooks", 500, SERVER_ERROR_BODY)

    with pytest.raises(ServerError) as caught:
        await client.create_webhook(PROJECT, TARGET)

    assert caught.value.phrase == PHRASE
    assert len(fake_asana.requests) == 1
    assert sleeps.delays == []


# -- typed errors ------------------------------------------------------------------------------


async def test_401_raises_unauthorized_without_retrying(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """401 becomes Unauthorized after a single request."""
    body = {"errors": [{"message": "Not Authorized"}]}
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 401, body)

    with pytest.raises(Unauthorized, match="Not Authorized"):
        await client.get_webhook(WEBHOOK_GID)
    assert sleeps.delays == []


async def test_403_duplicated_webhook_raises_duplicate_webhook(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """403 "Duplicated webhook" on create becomes DuplicateWebhook."""
    message = (
        "Duplicated webhook. You already have an existing webhook for the given resource and target. "
        "Delete the old one before creating another."
    )
    fake_asana.script("POST", "/webhooks", 403, {"errors": [{"message": message}]})

    with pytest.raises(DuplicateWebhook) as caught:
        await client.create_webhook(PROJECT, TARGET)
    assert caught.value.message == message


async def test_w12_403_for_a_localhost_target_raises_invalid_target_naming_it(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """403 on create about the target becomes InvalidTarget, with a note naming the target URL."""
    local = "http://localhost:8080/asana/h/t1"
    body = {"errors": [{"message": "Invalid target hostname: localhost", "help": "See the docs"}]}
    fake_asana.script("POST", "/webhooks", 403, body)

    with pytest.raises(InvalidTarget) as caught:
        await client.create_webhook({"data": {"resource": PROJECT, "target": local}})

    assert any(local in note for note in caught.value.__notes__)
    assert caught.value.errors == body["errors"]


async def test_w14_400_larger_scope_raises_larger_scope_filters_required_with_codes(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """400 invalid_filters_for_larger_scoped_webhooks keeps error code, message and user_message."""
    error = {
        "error": "invalid_filters_for_larger_scoped_webhooks",
        "message": "Webhooks for larger scoped resources must have at least one filter and all filters "
        "must be in our whitelist.",
        "user_message": "Pick allowed filters",
        "help": "See the docs",
    }
    fake_asana.script("POST", "/webhooks", 400, {"errors": [error]})

    with pytest.raises(LargerScopeFiltersRequired) as caught:
        await client.create_webhook(
            WORKSPACE,
            "https://hooks.example.test/asana/h/t3",
            [{"resource_type": "project_status", "action": "changed"}],
        )

    assert isinstance(caught.value, BadRequest)
    assert caught.value.error_codes == ["invalid_filters_for_larger_scoped_webhooks"]
    assert caught.value.errors[0]["user_message"] == "Pick allowed filters"
    assert fake_asana.requests[0].json()["data"]["filters"] == [
        {"resource_type": "project_status", "action": "changed"}
    ]


async def test_w18_404_on_a_webhook_raises_webhook_not_found(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """GET /webhooks/{gid} answered 404 raises WebhookNotFound and is not retried."""
    body = {"errors": [{"message": "webhook: Unknown object: 1400000000000004"}]}
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 404, body)

    with pytest.raises(WebhookNotFound) as caught:
        await client.get_webhook(WEBHOOK_GID)
    assert caught.value.path == f"/webhooks/{WEBHOOK_GID}"
    assert sleeps.delays == []


async def test_404_elsewhere_raises_plain_not_found(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """A 404 on another route is NotFound, not WebhookNotFound."""
    fake_asana.script("GET", "/users/me", 404, {"errors": [{"message": "Not found"}]})

    with pytest.raises(NotFound) as caught:
        await client.request_json("GET", "/users/me")
    assert not isinstance(caught.value, WebhookNotFound)


async def test_an_html_error_page_still_gives_the_typed_error_without_the_body(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """A proxy's HTML 403 becomes Forbidden with no errors and no HTML in the message."""
    html = b"<html><body>Forbidden by CDN rule 42</body></html>"
    fake_asana.script(
        "DELETE",
        f"/webhooks/{WEBHOOK_GID}",
        403,
        raw=html,
        headers={"Content-Type": "text/html"},
        conformant=False,
    )

    with pytest.raises(AsanaAPIError) as caught:
        await client.delete_webhook(WEBHOOK_GID)

    assert type(caught.value).__name__ == "Forbidden"
    assert caught.value.errors == []
    assert "CDN" not in str(caught.value)


async def test_a_success_without_data_raises_unexpected_response(
    fake_asana: FakeAsana, client: AsanaClient
) -> None:
    """A 200 whose body has no data member raises UnexpectedResponse, an AsanaAPIError."""
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 200, {"ok": True}, conformant=False)

    with pytest.raises(UnexpectedResponse):
        await client.get_webhook(WEBHOOK_GID)


async def test_a_redirect_is_not_followed(fake_asana: FakeAsana, client: AsanaClient) -> None:
    """A 302 is reported as an error rather than followed (it could carry the token elsewhere)."""
    fake_asana.script(
        "GET",
        "/users/me",
        302,
        raw=b"",
        headers={"Location": "https://elsewhere.example.test/"},
        conformant=False,
    )

    with pytest.raises(AsanaAPIError) as caught:
        await client.request_json("GET", "/users/me")
    assert caught.value.status == 302
    assert len(fake_asana.requests) == 1


# -- transport failures -----------------------------------------------------------------------


async def test_connection_refused_on_get_is_retried_then_raises_transport_error(
    sleeps: SleepRecorder,
) -> None:
    """A refused GET is tried max_attempts times, then TransportError names method and path only."""
    config = ClientConfig(base_url=f"http://127.0.0.1:{free_port()}/api/1.0")
    async with AsanaClient(TOKEN, config=config, sleep=sleeps, random=lambda: 0.5) as asana:
        with pytest.raises(TransportError) as caught:
            await asana.get_webhook(WEBHOOK_GID)

    assert not isinstance(caught.value, RequestTimeout)
    assert str(caught.value).startswith(f"GET /webhooks/{WEBHOOK_GID} failed")
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectionError)
    assert sleeps.delays == [0.75, 1.5, 3.0, 6.0]


async def test_connection_refused_on_post_is_not_retried(sleeps: SleepRecorder) -> None:
    """A refused create raises TransportError at once: writes are not re-sent after a transport error."""
    config = ClientConfig(base_url=f"http://127.0.0.1:{free_port()}/api/1.0")
    async with AsanaClient(TOKEN, config=config, sleep=sleeps) as asana:
        with pytest.raises(TransportError, match="POST /webhooks"):
            await asana.create_webhook(PROJECT, TARGET)
    assert sleeps.delays == []


async def test_a_dropped_connection_on_get_is_retried(
    fake_asana: FakeAsana, client: AsanaClient, sleeps: SleepRecorder
) -> None:
    """The server closing the connection mid-GET is retried after a backoff, then the answer returned."""
    # aiohttp itself re-sends an idempotent request once after a disconnect (RFC 9112 section 9.3.1),
    # so two drops are needed to reach the client's own retry.
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", disconnect=True, times=2)
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 200, {"data": full_record()})

    webhook = await client.get_webhook(WEBHOOK_GID)

    assert webhook.gid == WEBHOOK_GID
    assert sleeps.delays == [0.75]
    assert len(fake_asana.requests) == 3


async def test_a_slow_answer_raises_request_timeout(fake_asana: FakeAsana, sleeps: SleepRecorder) -> None:
    """No answer within the configured total timeout raises RequestTimeout; the write is not re-sent."""
    fake_asana.script("POST", "/webhooks", 201, created_body(), hold=True)

    async with make_client(fake_asana, sleeps, timeout=0.05) as asana:
        with pytest.raises(RequestTimeout, match="POST /webhooks timed out"):
            await asana.create_webhook(PROJECT, TARGET)

    assert len(fake_asana.requests) == 1
    assert sleeps.delays == []


# -- token handling and secrecy ---------------------------------------------------------------


async def test_the_token_never_shows_in_reprs_errors_or_debug_logs(
    fake_asana: FakeAsana, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Across successes, retries, API errors and transport errors the token is never written out."""
    caplog.set_level(logging.DEBUG)
    fake_asana.script("GET", "/webhooks", 429, RATE_LIMIT_BODY, headers={"Retry-After": "1"})
    fake_asana.script("GET", "/webhooks", 200, page([compact_record(0)], None))
    fake_asana.script("POST", "/webhooks", 403, {"errors": [{"message": "Duplicated webhook."}]})
    fake_asana.script("GET", f"/webhooks/{WEBHOOK_GID}", 401, {"errors": [{"message": "Not Authorized"}]})
    errors: list[BaseException] = []

    async with make_client(fake_asana, sleeps) as asana:
        assert repr(asana) == f"AsanaClient(base_url={fake_asana.base_url!r}, token=<redacted>)"
        texts = [repr(asana), str(asana), repr(vars(asana))]
        await asana.list_webhook_page(WORKSPACE)
        for call in (asana.create_webhook(PROJECT, TARGET), asana.get_webhook(WEBHOOK_GID)):
            with pytest.raises(AsanaHooksError) as caught:
                await call
            errors.append(caught.value)
    config = ClientConfig(base_url=f"http://127.0.0.1:{free_port()}/api/1.0")
    async with AsanaClient(TOKEN, config=config, sleep=sleeps) as asana:
        with pytest.raises(TransportError) as refused:
            await asana.delete_webhook(WEBHOOK_GID)
        errors.append(refused.value)

    for error in errors:
        texts += [str(error), repr(error), *getattr(error, "__notes__", [])]
        if error.__cause__ is not None:
            texts.append(str(error.__cause__))
    assert caplog.text  # the client did log at DEBUG
    assert "GET /webhooks -> 429 (attempt 1)" in caplog.text
    for text in [*texts, caplog.text]:
        assert TOKEN not in text
        assert "fake-pat" not in text


async def test_the_token_is_read_from_the_environment(
    fake_asana: FakeAsana, sleeps: SleepRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a token argument, ASANA_ACCESS_TOKEN is sent as the bearer token."""
    monkeypatch.setenv(TOKEN_ENV_VAR, TOKEN)
    fake_asana.script("DELETE", f"/webhooks/{WEBHOOK_GID}", 200, {"data": {}})

    async with AsanaClient(config=ClientConfig(base_url=fake_asana.base_url), sleep=sleeps) as asana:
        await asana.delete_webhook(WEBHOOK_GID)

    assert fake_asana.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_missing_token_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No argument and no ASANA_ACCESS_TOKEN raises InvalidRequestError naming the variable."""
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    with pytest.raises(InvalidRequestError, match=TOKEN_ENV_VAR):
        AsanaClient()
    with pytest.raises(InvalidRequestError, match=TOKEN_ENV_VAR):
        AsanaClient("")


def test_a_token_with_a_newline_is_refused_without_echoing_it() -> None:
    """A token that would split the Authorization header is refused; the message omits it."""
    with pytest.raises(InvalidRequestError) as caught:
        AsanaClient("0/fake-pat-0000\r\nX-Evil: 1")
    assert "fake-pat" not in str(caught.value)


def test_the_user_agent_names_the_library() -> None:
    """The User-Agent is asana-hooks, with the installed version when there is one."""
    assert user_agent().split("/")[0] == "asana-hooks"


# -- lifecycle ------------------------------------------------------------------------------------


async def test_an_injected_session_is_left_open_and_an_owned_one_closed(
    fake_asana: FakeAsana, sleeps: SleepRecorder
) -> None:
    """aclose closes the session the client made, never one it was given."""
    fake_asana.script("DELETE", f"/webhooks/{WEBHOOK_GID}", 200, {"data": {}}, times=2)
    config = ClientConfig(base_url=fake_asana.base_url)
    async with aiohttp.ClientSession() as session:
        async with AsanaClient(TOKEN, config=config, session=session, sleep=sleeps) as asana:
            await asana.delete_webhook(WEBHOOK_GID)
        assert not session.closed

    owned = AsanaClient(TOKEN, config=config, sleep=sleeps)
    await owned.delete_webhook(WEBHOOK_GID)  # the session is made on first use
    own_session = owned._session
    assert own_session is not None
    await owned.aclose()
    assert own_session.closed
    assert owned.config is config


async def test_a_closed_client_refuses_further_calls(fake_asana: FakeAsana, sleeps: SleepRecorder) -> None:
    """After aclose every call raises InvalidRequestError and sends nothing."""
    asana = make_client(fake_asana, sleeps)
    await asana.aclose()
    with pytest.raises(InvalidRequestError, match="closed"):
        await asana.get_webhook(WEBHOOK_GID)
    with pytest.raises(InvalidRequestError, match="closed"):
        async with asana:
            pass
    assert fake_asana.requests == []


async def test_without_a_config_the_base_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ASANA_BASE_URL points a client built without config at, e.g., the emulator."""
    monkeypatch.setenv("ASANA_BASE_URL", "http://127.0.0.1:8765/api/1.0")
    async with AsanaClient("0/fake-pat-0000") as client:
        assert client.config.base_url == "http://127.0.0.1:8765/api/1.0"
    monkeypatch.delenv("ASANA_BASE_URL")
    async with AsanaClient("0/fake-pat-0000") as client:
        assert client.config.base_url == "https://app.asana.com/api/1.0"
    monkeypatch.setenv("ASANA_BASE_URL", "ftp://nowhere")
    with pytest.raises(InvalidRequestError, match="ASANA_BASE_URL"):
        AsanaClient("0/fake-pat-0000")
