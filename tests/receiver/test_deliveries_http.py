"""Deliveries over real HTTP: W05, W07, W08, W18, W19, W22, limits, dedupe and ack modes."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from asana_hooks.config import AckMode, ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.handshake import SubscriptionRecord
from asana_hooks.signing import sign
from asana_hooks.stores import MemoryStore, SQLiteStore
from tests.core.case_values import (
    B_EV,
    B_HB,
    S2,
    SIG_BASE64,
    SIG_EMPTY_KEY,
    SIG_EV,
    SIG_HB,
    SIG_STR_REPR,
    WEBHOOK_GID,
    S,
)
from tests.receiver.harness import running

pytestmark = pytest.mark.anyio


async def raw_request(port: int, head: bytes, body: bytes = b"") -> int:
    """Send exact request bytes over TCP and return the response status."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(head + body)
        received = b""
        while b"\r\n" not in received:
            received += await stream.receive()
    return int(received.split(b" ", 2)[1])


async def test_w05_the_genuine_heartbeat_verifies_and_the_str_repr_signature_does_not() -> None:
    """W05: B_HB with 46df30a7... -> 200; with the str(bytes) HMAC 6560585b... -> 401."""
    async with running() as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
        assert (await h.deliver("t1", B_HB, SIG_STR_REPR)).status == 401


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("X-Hook-Signature", "abc")], id="a-short"),
        pytest.param([("X-Hook-Signature", SIG_BASE64)], id="b-base64"),
        pytest.param([("X-Hook-Signature", SIG_HB[:60] + " " + SIG_HB[60:])], id="c-inner-space"),
        pytest.param([("X-Hook-Signature", SIG_HB[:-1] + "é")], id="d-non-ascii"),
        pytest.param([], id="e-absent"),
        pytest.param([("X-Hook-Signature", SIG_HB), ("X-Hook-Signature", SIG_HB)], id="f-twice"),
        pytest.param([("X-Hook-Signature", SIG_HB.upper())], id="uppercase"),
    ],
)
async def test_w07_malformed_signatures_get_401_never_500(
    headers: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    """W07 (a)-(f): every malformed X-Hook-Signature gets 401; the secret is never logged."""
    caplog.set_level(logging.DEBUG, logger="asana_hooks")
    async with running() as h:
        await h.establish("t1")
        reply = await h.post("t1", B_HB, headers)
        assert reply.status == 401
        assert h.calls == []
    assert S not in caplog.text
    assert SIG_HB not in caplog.text


async def test_w07c_a_trailing_space_is_http_whitespace_and_a_raw_latin1_byte_is_401() -> None:
    """HTTP strips a trailing space (RFC 9110 OWS), so the exact signature remains and verifies;
    a raw non-ASCII byte in the value still gets 401."""
    async with running() as h:
        await h.establish("t1")
        port = int(h.receiver.base_url.rsplit(":", 1)[1])

        def head(signature: bytes) -> bytes:
            return (
                b"POST /asana/h/t1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Length: 13\r\nX-Hook-Signature: " + signature + b"\r\n\r\n"
            )

        assert await raw_request(port, head(SIG_HB.encode() + b" "), B_HB) == 200
        assert await raw_request(port, head(SIG_HB[:-1].encode() + b"\xe9"), B_HB) == 401


async def test_w08_an_empty_stored_secret_gets_401_and_a_logged_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """W08: a record whose secret is "" (legacy row) refuses even the empty-key HMAC, and logs."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store:
        await store.list_records()
        with sqlite3.connect(path) as other:
            other.execute(
                "INSERT INTO subscriptions VALUES ('t1', '', '1200000000000002', 'x', '[]', NULL, 1.0, NULL)"
            )
        caplog.set_level(logging.ERROR, logger="asana_hooks.receiver")
        async with running(store) as h:
            assert (await h.deliver("t1", B_HB, SIG_EMPTY_KEY)).status == 401
    assert "re-create required" in caplog.text


async def test_an_unknown_token_gets_401_and_logs_only_a_prefix(caplog: pytest.LogCaptureFixture) -> None:
    """A delivery for a path with no secret -> 401, logged with a short token prefix only."""
    token = "ZyXwVuTsRqPoNmLkJiHgFeDcBa987654"
    caplog.set_level(logging.ERROR, logger="asana_hooks.receiver")
    async with running() as h:
        assert (await h.deliver(token, B_HB, SIG_HB)).status == 401
    assert "no secret for this webhook path" in caplog.text
    assert "ZyXw" in caplog.text
    assert token not in caplog.text


async def test_w18a_a_heartbeat_is_200_without_a_handler_call_and_is_recorded() -> None:
    """W18 (a): B_HB -> 200, handler not called, last_seen_at set."""
    async with running() as h:
        await h.establish("t1")
        h.clock.now = 5_000.0
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
        assert h.calls == []
        record = await h.store.get("t1")
        assert record is not None
        assert record.last_seen_at == 5_000.0


async def test_a_verified_batch_reaches_the_handler_with_its_record() -> None:
    """B_EV with its signature -> 200 and one handler call with the typed event and the record."""
    async with running() as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        [(record, delivery)] = h.calls
        assert record.token == "t1"
        assert record.webhook_gid == WEBHOOK_GID
        assert [e.resource.gid for e in delivery.events] == ["4000000000000002"]
        assert delivery.body == B_EV


async def test_odd_events_reach_the_handler_as_unparsed() -> None:
    """A batch with one good and one odd event is delivered whole; the odd one is in unparsed."""
    body = json.dumps({"events": [json.loads(B_EV)["events"][0], {"action": "x"}]}).encode()
    async with running() as h:
        await h.establish("t1")
        assert (await h.deliver("t1", body, sign(S, body))).status == 200
        [(_, delivery)] = h.calls
        assert len(delivery.events) == 1
        assert delivery.unparsed == [{"action": "x"}]


async def test_malformed_json_after_a_valid_signature_gets_400(caplog: pytest.LogCaptureFixture) -> None:
    """A correctly signed body that is not an events object -> 400 and a logged error."""
    body = b'{"events": "nope"}'
    caplog.set_level(logging.ERROR, logger="asana_hooks.receiver")
    async with running() as h:
        await h.establish("t1")
        assert (await h.deliver("t1", body, sign(S, body))).status == 400
        assert (await h.deliver("t1", b"{", sign(S, b"{"))).status == 400
    assert "correctly signed" in caplog.text


async def test_malformed_json_with_a_bad_signature_is_401_not_400() -> None:
    """The signature is checked before parsing: junk with a wrong signature is 401."""
    async with running() as h:
        await h.establish("t1")
        assert (await h.deliver("t1", b"{", SIG_HB)).status == 401


async def test_a_body_above_the_limit_by_content_length_gets_413() -> None:
    """A declared Content-Length above max_body_size -> 413 before any HMAC work."""
    config = ReceiverConfig(max_body_size=64)
    async with running(config=config) as h:
        await h.establish("t1")
        body = b'{"events":[]}' + b" " * 60
        assert (await h.deliver("t1", body, sign(S, body))).status == 413
        exact = b'{"events":[]}' + b" " * 51
        assert len(exact) == 64
        assert (await h.deliver("t1", exact, sign(S, exact))).status == 200


async def test_a_chunked_body_above_the_limit_gets_413() -> None:
    """A chunked body (no Content-Length) is cut off at max_body_size with 413."""
    config = ReceiverConfig(max_body_size=64)
    body = b'{"events":[]}' + b" " * 200

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 16):
            yield body[i : i + 16]

    async def small_chunks() -> AsyncIterator[bytes]:
        yield B_HB[:5]
        yield B_HB[5:]

    async with running(config=config) as h:
        await h.establish("t1")
        assert (await h.post("t1", chunks, [("X-Hook-Signature", sign(S, body))])).status == 413
        assert (await h.post("t1", small_chunks, [("X-Hook-Signature", SIG_HB)])).status == 200


async def test_no_handler_means_events_get_503_but_heartbeats_200() -> None:
    """Without on_delivery, nothing is acknowledged and forgotten: events 503, heartbeats 200."""
    async with running(record_calls=False) as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 503
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
        h.receiver.on_delivery = h.record_call
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert len(h.calls) == 1


async def test_an_inline_handler_failure_is_500_and_the_retry_is_processed() -> None:
    """Inline mode: a raising handler -> 500; Asana's identical retry runs the handler again."""
    attempts: list[Delivery] = []

    async def flaky(record: SubscriptionRecord, delivery: Delivery) -> None:
        attempts.append(delivery)
        if len(attempts) == 1:
            raise RuntimeError("database down")

    async with running(handler=flaky) as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 500
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert len(attempts) == 2
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert len(attempts) == 2


async def test_a_redelivery_within_the_window_is_dropped_and_after_it_handled() -> None:
    """Dedupe: the identical batch again -> 200 without a call; after dedupe_window it is new."""
    async with running(config=ReceiverConfig(dedupe_window=900.0)) as h:
        await h.establish("t1")
        await h.deliver("t1", B_EV, SIG_EV)
        h.clock.now += 899.0
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert len(h.calls) == 1
        h.clock.now += 1.0
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert len(h.calls) == 2


async def test_dedupe_is_per_token() -> None:
    """The same event body on another webhook path is not a duplicate."""
    async with running() as h:
        await h.establish("t1")
        await h.establish("t2", webhook_gid="1400000000000008")
        await h.deliver("t1", B_EV, SIG_EV)
        await h.deliver("t2", B_EV, SIG_EV)
        assert [record.token for record, _ in h.calls] == ["t1", "t2"]


async def test_only_the_new_events_of_a_partly_redelivered_batch_are_handled() -> None:
    """A batch mixing a handled event, a new one and a repeat within itself passes the new one once."""
    first = json.loads(B_EV)["events"][0]
    second = dict(first, created_at="2024-03-05T10:16:00.000Z")
    odd = {"odd": 1}
    body = json.dumps({"events": [first, second, second, odd, odd]}).encode()
    async with running() as h:
        await h.establish("t1")
        await h.deliver("t1", B_EV, SIG_EV)
        assert (await h.deliver("t1", body, sign(S, body))).status == 200
        [_, (_, delivery)] = h.calls
        assert [e.raw for e in delivery.events] == [second]
        assert delivery.unparsed == [odd]


async def test_dedupe_can_be_disabled() -> None:
    """dedupe_window=None passes every redelivery to the handler."""
    async with running(config=ReceiverConfig(dedupe_window=None)) as h:
        await h.establish("t1")
        await h.deliver("t1", B_EV, SIG_EV)
        await h.deliver("t1", B_EV, SIG_EV)
        assert len(h.calls) == 2


async def test_w19_background_mode_acks_before_the_handler_and_drops_the_resend() -> None:
    """W19: the 200 arrives while the handler is still blocked; the identical resend -> 200, one run."""
    release = anyio.Event()
    started: list[SubscriptionRecord] = []
    finished: list[SubscriptionRecord] = []

    async def slow(record: SubscriptionRecord, delivery: Delivery) -> None:
        started.append(record)
        await release.wait()
        finished.append(record)

    config = ReceiverConfig(ack_mode=AckMode.BACKGROUND)
    async with running(config=config, handler=slow) as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert finished == []
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        release.set()
        with anyio.fail_after(5):
            while not finished:
                await anyio.lowlevel.checkpoint()
    assert len(started) == 1
    assert len(finished) == 1


async def test_background_handler_errors_are_logged_and_the_receiver_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing background handler is logged; later deliveries are still answered."""
    done = anyio.Event()

    async def broken(record: SubscriptionRecord, delivery: Delivery) -> None:
        done.set()
        raise RuntimeError("boom")

    caplog.set_level(logging.ERROR, logger="asana_hooks.receiver")
    config = ReceiverConfig(ack_mode=AckMode.BACKGROUND)
    async with running(config=config, handler=broken) as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        with anyio.fail_after(5):
            await done.wait()
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
    assert "background delivery handler failed" in caplog.text


async def shut_down_during_a_background_handler(*, released: bool, shutdown_timeout: float) -> list[str]:
    """Close the receiver while a background handler is blocked; when ``released``, unblock it only
    once shutdown has begun. Return what the handler got to do."""
    progress: list[str] = []
    entered = anyio.Event()
    closing = anyio.Event()
    release = anyio.Event()

    async def handler(record: SubscriptionRecord, delivery: Delivery) -> None:
        entered.set()
        progress.append("entered")
        try:
            await release.wait()
        except anyio.get_cancelled_exc_class():
            progress.append("cancelled")
            raise
        progress.append("finished")

    async def release_once_closing() -> None:
        await closing.wait()
        release.set()

    config = ReceiverConfig(ack_mode=AckMode.BACKGROUND, shutdown_timeout=shutdown_timeout)
    async with anyio.create_task_group() as tg, running(config=config, handler=handler) as h:
        await h.establish("t1")
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        await entered.wait()
        if released:
            tg.start_soon(release_once_closing)
        closing.set()
    return progress


async def test_aclose_waits_for_background_handlers() -> None:
    """Shutdown lets an in-flight background handler finish within shutdown_timeout."""
    progress = await shut_down_during_a_background_handler(released=True, shutdown_timeout=10.0)
    assert progress == ["entered", "finished"]


async def test_aclose_cancels_background_handlers_past_the_timeout() -> None:
    """Shutdown is bounded: a handler still blocked after shutdown_timeout is cancelled."""
    progress = await shut_down_during_a_background_handler(released=False, shutdown_timeout=0.05)
    assert progress == ["entered", "cancelled"]


async def test_w22_a_restart_on_the_same_sqlite_file_still_verifies(tmp_path: Path) -> None:
    """W22: capture, close everything, new store + receiver on the file -> 200; MemoryStore -> 401."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store, running(store) as h:
        await h.establish("t1")
    async with SQLiteStore(path) as store, running(store) as h:
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
    async with running(MemoryStore()) as h:
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 401


async def test_a_failing_store_gives_503_on_deliveries() -> None:
    """A store that cannot answer makes deliveries 503 (retried), never 500 or 200."""
    store = MemoryStore()
    async with running(store) as h:
        await h.establish("t1")
        await store.aclose()
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 503


async def test_a_failed_last_seen_update_still_acknowledges(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When touch fails after verification, the delivery is still handled and logged."""
    path = tmp_path / "secrets.db"
    caplog.set_level(logging.WARNING, logger="asana_hooks.receiver")
    async with SQLiteStore(path) as store, running(store) as h:
        await h.establish("t1")
        with sqlite3.connect(path) as other:
            other.execute(
                "CREATE TRIGGER no_touch BEFORE UPDATE OF last_seen_at ON subscriptions "
                "BEGIN SELECT RAISE(ABORT, 'read only'); END"
            )
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
        assert len(h.calls) == 1
    assert "could not record the last delivery time" in caplog.text


async def test_other_methods_get_405_and_foreign_paths_404() -> None:
    """GET on the webhook path -> 405; a path that is not a token -> 404."""
    async with running() as h:
        assert (await h.post("t1", method="GET")).status == 405
        assert (await h.post("t1", method="PUT")).status == 405
        url = h.receiver.base_url + "/asana/h/bad.token"
        async with h.session.post(url) as response:
            assert response.status == 404


async def test_delivery_logs_never_contain_secrets_signatures_or_bodies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Across accepted, refused and failed deliveries the log holds no secret, signature or body."""
    token = "LoGsAfEtOkEn0123456789abcdefghij"

    async def failing(record: SubscriptionRecord, delivery: Delivery) -> None:
        raise RuntimeError("handler failed")

    caplog.set_level(logging.DEBUG, logger="asana_hooks")
    async with running(handler=failing) as h:
        await h.establish(token)
        await h.deliver(token, B_HB, SIG_HB)
        await h.deliver(token, B_EV, SIG_EV)
        await h.deliver(token, B_EV, sign(S2, B_EV))
        await h.deliver(token, b"{", sign(S, b"{"))
    for secret_thing in (S, S2, SIG_HB, SIG_EV, token, "4000000000000002"):
        assert secret_thing not in caplog.text
