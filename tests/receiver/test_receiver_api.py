"""Receiver lifecycle, URLs, mounting under a parent app, and ReceiverConfig validation."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from asana_hooks.config import AckMode, ReceiverConfig
from asana_hooks.deliveries import Delivery
from asana_hooks.errors import InvalidRequestError
from asana_hooks.handshake import PendingCreate, SubscriptionRecord, new_path_token
from asana_hooks.receiver import Receiver
from asana_hooks.stores import MemoryStore
from tests.core.case_values import B_EV, PROJECT_GID, SIG_EV, S

pytestmark = pytest.mark.anyio


async def test_mounted_under_a_parent_app_it_works_end_to_end() -> None:
    """parent.add_subapp('/svc', receiver.app), served by the caller's runner: handshake + delivery."""
    store = MemoryStore()
    calls: list[Delivery] = []

    async def handler(record: SubscriptionRecord, delivery: Delivery) -> None:
        calls.append(delivery)

    # Bind first so the public URL (with its port) is known before the app is frozen by the runner.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/svc"
    receiver = Receiver(store, config=ReceiverConfig(public_url=base + "/", serve=False), on_delivery=handler)
    parent = web.Application()
    parent.add_subapp("/svc", receiver.app)
    runner = web.AppRunner(parent)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        async with receiver, aiohttp.ClientSession() as session:
            assert receiver.public_url == base
            assert receiver.base_url == base
            token = new_path_token()
            target = receiver.target_for(token)
            assert target == f"{base}/asana/h/{token}"
            await store.add_pending(
                PendingCreate(token=token, resource_gid=PROJECT_GID, target=target, expires_at=1e12)
            )
            async with session.post(target, headers={"X-Hook-Secret": S}) as reply:
                assert reply.status == 200
                assert reply.headers["X-Hook-Secret"] == S
            async with session.post(target, data=B_EV, headers={"X-Hook-Signature": SIG_EV}) as reply:
                assert reply.status == 200
            unmounted = f"http://127.0.0.1:{port}/asana/h/{token}"
            async with session.post(unmounted, data=B_EV, headers={"X-Hook-Signature": SIG_EV}) as reply:
                assert reply.status == 404
    finally:
        await runner.cleanup()
    assert len(calls) == 1


async def test_the_parent_runner_cleanup_drains_mounted_background_handlers() -> None:
    """Mounted in background mode: the caller's runner.cleanup() cancels a handler stuck past the timeout."""
    store = MemoryStore()
    progress: list[str] = []
    entered = anyio.Event()

    async def stuck(record: SubscriptionRecord, delivery: Delivery) -> None:
        entered.set()
        try:
            await anyio.Event().wait()
        except anyio.get_cancelled_exc_class():
            progress.append("cancelled")
            raise

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/svc"
    config = ReceiverConfig(public_url=base, serve=False, ack_mode=AckMode.BACKGROUND, shutdown_timeout=0.05)
    receiver = Receiver(store, config=config, on_delivery=stuck)
    parent = web.Application()
    parent.add_subapp("/svc", receiver.app)
    runner = web.AppRunner(parent)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        await store.add_pending(
            PendingCreate(
                token="t1", resource_gid=PROJECT_GID, target=receiver.target_for("t1"), expires_at=1e12
            )
        )
        await store.capture_handshake("t1", S, 0.0)
        async with aiohttp.ClientSession() as session:
            url = receiver.target_for("t1")
            async with session.post(url, data=B_EV, headers={"X-Hook-Signature": SIG_EV}) as reply:
                assert reply.status == 200
        await entered.wait()
    finally:
        await runner.cleanup()
    assert progress == ["cancelled"]


async def test_a_standalone_receiver_reports_the_port_it_bound() -> None:
    """Port 0 is replaced by the real port in base_url; public_url and targets follow it."""
    async with Receiver(MemoryStore()) as receiver:
        host, port = receiver.base_url.removeprefix("http://").rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) > 0
        assert receiver.public_url == receiver.base_url
        assert receiver.target_prefix == receiver.base_url + "/asana/h/"
        assert receiver.target_for("t1") == receiver.base_url + "/asana/h/t1"
        assert "started" in repr(receiver)
    assert "stopped" in repr(receiver)


async def test_an_ipv6_loopback_base_url_is_bracketed() -> None:
    """Binding ::1 gives http://[::1]:port."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        async with Receiver(MemoryStore(), config=ReceiverConfig(host="::1")) as receiver:
            assert receiver.base_url.startswith("http://[::1]:")
    except OSError:
        pytest.skip("cannot bind ::1 here")


async def test_a_custom_path_prefix_is_used_for_routes_and_targets() -> None:
    """path_prefix moves the route; the old prefix is 404."""
    config = ReceiverConfig(path_prefix="/hooks/asana")
    async with Receiver(MemoryStore(), config=config) as receiver, aiohttp.ClientSession() as session:
        assert receiver.target_for("t1").endswith("/hooks/asana/h/t1")
        async with session.post(receiver.target_for("t1"), headers={"X-Hook-Secret": S}) as reply:
            assert reply.status == 403
        async with session.post(receiver.base_url + "/asana/h/t1", headers={"X-Hook-Secret": S}) as reply:
            assert reply.status == 404


async def test_urls_need_a_started_receiver_or_a_public_url() -> None:
    """base_url and target_for raise RuntimeError before start when no public_url is set."""
    receiver = Receiver(MemoryStore())
    with pytest.raises(RuntimeError, match="not serving"):
        _ = receiver.base_url
    with pytest.raises(RuntimeError, match="not serving"):
        receiver.target_for("t1")


@pytest.mark.parametrize("token", ["", "a/b", "a b", "é", "x" * 129, "t1?x=1"])
def test_target_for_refuses_what_is_not_a_path_token(token: str) -> None:
    """Only 1..128 URL-safe characters make a path token."""
    receiver = Receiver(MemoryStore(), config=ReceiverConfig(public_url="https://hooks.example.test"))
    with pytest.raises(InvalidRequestError):
        receiver.target_for(token)


async def test_starting_twice_is_an_error_and_closing_twice_is_not() -> None:
    """start() on a started receiver raises; aclose() is idempotent."""
    receiver = Receiver(MemoryStore())
    await receiver.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await receiver.start()
    finally:
        await receiver.aclose()
    await receiver.aclose()


async def test_a_port_in_use_fails_start_and_leaves_it_stopped() -> None:
    """When binding fails, start raises OSError and the receiver can start again elsewhere."""
    async with Receiver(MemoryStore()) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        second = Receiver(MemoryStore(), config=ReceiverConfig(port=port))
        with pytest.raises(OSError, match="in use"):
            await second.start()
        assert "stopped" in repr(second)


def test_the_receiver_exposes_its_config_and_store() -> None:
    """config and store are readable; on_delivery is settable."""
    store = MemoryStore()
    config = ReceiverConfig(public_url="https://hooks.example.test")
    receiver = Receiver(store, config=config)

    async def handler(record: SubscriptionRecord, delivery: Delivery) -> None:
        return None

    receiver.on_delivery = handler
    assert receiver.config is config
    assert receiver.store is store
    assert receiver.on_delivery is handler


def test_receiver_config_defaults() -> None:
    """Defaults: loopback, port 0, /asana, 32 MiB, inline acks, 15-minute dedupe, 60 s handshakes."""
    config = ReceiverConfig()
    assert (config.host, config.port, config.public_url, config.path_prefix) == (
        "127.0.0.1",
        0,
        None,
        "/asana",
    )
    assert config.max_body_size == 32 * 1024 * 1024
    assert config.ack_mode is AckMode.INLINE
    assert config.dedupe_window == 900.0
    assert config.handshake_ttl == 60.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"host": ""}, "host"),
        ({"port": 70000}, "port"),
        ({"port": -1}, "port"),
        ({"public_url": "ftp://x"}, "public_url"),
        ({"public_url": "https://"}, "public_url"),
        ({"public_url": "https://u:p@hooks.example.test"}, "credentials"),
        ({"public_url": "https://hooks.example.test/?a=1"}, "query"),
        ({"path_prefix": "asana"}, "path_prefix"),
        ({"path_prefix": "/asana/"}, "path_prefix"),
        ({"path_prefix": "/"}, "path_prefix"),
        ({"path_prefix": "/a//b"}, "path_prefix"),
        ({"path_prefix": "/{x}"}, "path_prefix"),
        ({"max_body_size": 0}, "max_body_size"),
        ({"ack_mode": "later"}, "ack_mode"),
        ({"dedupe_window": 0.0}, "dedupe_window"),
        ({"dedupe_max_entries": 0}, "dedupe_max_entries"),
        ({"handshake_ttl": 0.0}, "handshake_ttl"),
        ({"shutdown_timeout": -1.0}, "shutdown_timeout"),
        ({"shutdown_timeout": 0.0}, "shutdown_timeout"),
    ],
)
def test_receiver_config_refuses_nonsense(changes: dict[str, Any], message: str) -> None:
    """Every invalid setting raises ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        ReceiverConfig(**changes)


def test_ack_mode_accepts_its_string_values() -> None:
    """AckMode values are plain strings, so configuration files can name them."""
    assert ReceiverConfig(ack_mode=AckMode("background")).ack_mode is AckMode.BACKGROUND


def test_an_ack_mode_given_as_text_becomes_the_enum() -> None:
    """ReceiverConfig(ack_mode="durable") means AckMode.DURABLE, as from a config file."""
    from asana_hooks.config import AckMode, ReceiverConfig

    assert ReceiverConfig(ack_mode="durable").ack_mode is AckMode.DURABLE  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inline, background or durable"):
        ReceiverConfig(ack_mode="eventually")  # type: ignore[arg-type]
