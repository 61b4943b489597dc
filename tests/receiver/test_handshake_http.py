"""The handshake over real HTTP: W02, W03, W09, W18 (b) and 200 concurrent creates."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest

from asana_hooks.handshake import CaptureOutcome
from asana_hooks.signing import sign
from asana_hooks.stores import MemoryStore, SQLiteStore
from tests.core.case_values import B_HB, S2, SIG_HB, WEBHOOK_GID, S
from tests.receiver.harness import running

pytestmark = pytest.mark.anyio


async def test_w02_the_handshake_is_answered_200_with_the_exact_echo() -> None:
    """W02: status 200 or 204, X-Hook-Secret byte-identical to the request's, never 201/202."""
    async with running() as h:
        await h.arm("t1")
        reply = await h.post("t1", headers=[("X-Hook-Secret", S)])
        assert reply.status in {200, 204}
        assert reply.headers.getall("X-Hook-Secret") == [S]
        record = await h.store.get("t1")
        assert record is not None
        assert record.secret == S


async def test_w03_a_takeover_is_refused_and_genuine_deliveries_still_verify() -> None:
    """W03: fake handshake with S2 -> 403 no echo, S kept; S2-signed -> 401; genuine B_HB -> 200."""
    async with running() as h:
        await h.establish("t1", S)
        fake = await h.post("t1", headers=[("X-Hook-Secret", S2)])
        assert fake.status == 403
        assert "X-Hook-Secret" not in fake.headers
        record = await h.store.get("t1")
        assert record is not None
        assert record.secret == S
        assert record.webhook_gid == WEBHOOK_GID

        assert (await h.deliver("t1", B_HB, sign(S2, B_HB))).status == 401
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200


async def test_a_handshake_for_a_token_nobody_created_is_refused() -> None:
    """No pending create at all: 403 without the header, and nothing stored."""
    async with running() as h:
        reply = await h.post("t9", headers=[("X-Hook-Secret", S)])
        assert reply.status == 403
        assert "X-Hook-Secret" not in reply.headers
        assert await h.store.get("t9") is None


async def test_a_repeated_identical_handshake_is_echoed_again() -> None:
    """The same secret twice while the create is in flight gets the echo both times."""
    async with running() as h:
        await h.arm("t1")
        for _ in range(2):
            reply = await h.post("t1", headers=[("X-Hook-Secret", S)])
            assert reply.status == 200
            assert reply.headers["X-Hook-Secret"] == S


async def test_an_expired_create_refuses_its_handshake() -> None:
    """Past handshake_ttl the handshake is refused (the clock is the receiver's)."""
    async with running() as h:
        await h.arm("t1")
        h.clock.now += h.receiver.config.handshake_ttl
        assert (await h.post("t1", headers=[("X-Hook-Secret", S)])).status == 403


async def test_two_secret_headers_are_refused() -> None:
    """A handshake with X-Hook-Secret twice is refused (400) and stores nothing."""
    async with running() as h:
        await h.arm("t1")
        reply = await h.post("t1", headers=[("X-Hook-Secret", S), ("X-Hook-Secret", S)])
        assert reply.status == 400
        assert "X-Hook-Secret" not in reply.headers
        assert await h.store.get("t1") is None


async def test_an_empty_secret_header_is_refused() -> None:
    """X-Hook-Secret with an empty value is refused, so no empty key is ever stored."""
    async with running() as h:
        await h.arm("t1")
        assert (await h.post("t1", headers=[("X-Hook-Secret", "")])).status == 403
        assert await h.store.get("t1") is None


async def test_w09_the_unsigned_handshake_needs_no_body_and_the_next_heartbeat_verifies() -> None:
    """W09: handshake with no signature and empty body -> 200 echo; then signed B_HB -> 200."""
    async with running() as h:
        await h.arm("t1")
        reply = await h.post("t1", b"", headers=[("X-Hook-Secret", S)])
        assert reply.status == 200
        assert reply.headers["X-Hook-Secret"] == S
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200


async def test_a_handshake_body_is_never_parsed() -> None:
    """A handshake carrying junk bytes is still answered: the body is not read."""
    async with running() as h:
        await h.arm("t1")
        reply = await h.post("t1", b"\xff not json", headers=[("X-Hook-Secret", S)])
        assert reply.status == 200
        assert reply.headers["X-Hook-Secret"] == S


async def test_w18b_a_heartbeat_right_after_the_handshake_verifies_before_attach() -> None:
    """W18 (b): the secret verifies as soon as the handshake is answered, before the 201."""
    async with running() as h:
        await h.arm("t1")
        assert (await h.post("t1", headers=[("X-Hook-Secret", S)])).status == 200
        assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
        record = await h.store.get("t1")
        assert record is not None
        assert record.webhook_gid is None
        assert record.last_seen_at == h.clock.now


async def test_200_concurrent_handshakes_each_get_their_own_echo_and_secret() -> None:
    """200 creates in flight at once: every handshake is echoed and stored under its own token."""
    async with running() as h:
        tokens = [f"tok{i:03d}" for i in range(200)]
        for token in tokens:
            await h.arm(token)
        echoes: dict[str, str | None] = {}

        async def shake(token: str) -> None:
            reply = await h.post(token, headers=[("X-Hook-Secret", f"secret-{token}")])
            echoes[token] = reply.headers.get("X-Hook-Secret") if reply.status == 200 else None

        async with anyio.create_task_group() as tg:
            for token in tokens:
                tg.start_soon(shake, token)
        assert echoes == {token: f"secret-{token}" for token in tokens}
        for token in tokens:
            record = await h.store.get(token)
            assert record is not None
            assert record.secret == f"secret-{token}"


async def test_the_secret_is_durable_before_the_echo_goes_out(tmp_path: Path) -> None:
    """With SQLiteStore the captured secret is committed by the time the 200 arrives."""
    path = tmp_path / "secrets.db"
    async with SQLiteStore(path) as store, running(store) as h:
        await h.arm("t1")
        assert (await h.post("t1", headers=[("X-Hook-Secret", S)])).status == 200
        async with SQLiteStore(path) as other:
            record = await other.get("t1")
        assert record is not None
        assert record.secret == S


async def test_a_failing_store_answers_503_and_never_echoes() -> None:
    """When the store cannot capture, the handshake gets 503 without the header."""
    store = MemoryStore()
    async with running(store) as h:
        await h.arm("t1")
        await store.aclose()
        reply = await h.post("t1", headers=[("X-Hook-Secret", S)])
        assert reply.status == 503
        assert "X-Hook-Secret" not in reply.headers


async def test_handshake_logs_never_show_the_secret_or_the_whole_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Accepted and refused handshakes log a token prefix, never the token or secrets."""
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    caplog.set_level(logging.DEBUG, logger="asana_hooks")
    async with running() as h:
        await h.arm(token)
        await h.post(token, headers=[("X-Hook-Secret", S)])
        await h.post(token, headers=[("X-Hook-Secret", S2)])
        await h.post(token, headers=[("X-Hook-Secret", S), ("X-Hook-Secret", S2)])
    assert "AbCd" in caplog.text
    assert token not in caplog.text
    assert S not in caplog.text
    assert S2 not in caplog.text


async def test_capture_outcomes_are_reported_by_the_store_not_the_receiver() -> None:
    """The receiver changes state only through capture_handshake: a direct REPEATED stays 200."""
    async with running() as h:
        await h.arm("t1")
        assert await h.store.capture_handshake("t1", S, h.clock()) is CaptureOutcome.ACCEPTED
        reply = await h.post("t1", headers=[("X-Hook-Secret", S)])
        assert reply.status == 200
        assert reply.headers["X-Hook-Secret"] == S
