"""Secrets, tokens and signatures never leak: not in logs, reprs, exception messages or CLI output;
the SQLite file is private; path tokens are long, random and distinct."""

from __future__ import annotations

import base64
import logging
import os
import random
import re
import signal
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from anyio.abc import ByteReceiveStream

from asana_hooks import (
    AsanaClient,
    AsanaHooksError,
    ClientConfig,
    Event,
    HandshakeSecretMismatch,
    Hub,
    MemoryStore,
    RetryPolicy,
    Router,
    SQLiteStore,
)
from asana_hooks.emulator import Emulator
from asana_hooks.handshake import PendingCreate, new_path_token
from asana_hooks.signing import sign

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
_URLSAFE_RUN = re.compile(r"[A-Za-z0-9_-]{32,}")


def _path_tokens(emulator: Emulator) -> set[str]:
    """The path tokens of every target the emulator shook hands with or delivered to."""
    targets = {h.target for h in emulator.handshakes} | {hook.target for hook in emulator.webhooks.values()}
    return {target.rsplit("/", 1)[1] for target in targets}


def _sensitive(emulator: Emulator, extra: Iterable[str] = ()) -> set[str]:
    """Everything that must never be shown: the bearer token, secrets, signatures, path tokens."""
    values = {emulator.token, *extra, *_path_tokens(emulator)}
    for handshake in emulator.handshakes:
        values.add(handshake.secret or "")
    for delivery in emulator.deliveries:
        values.add(delivery.signature or "")
    for hook in emulator.webhooks.values():
        values.add(hook.secret)
    return {value for value in values if len(value) >= 8}


def _leaks(text: str, sensitive: set[str]) -> list[str]:
    return sorted(value[:4] + "…" for value in sensitive if value in text)


def _log_text(records: Iterable[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def _event(name: str) -> dict[str, Any]:
    return {
        "user": {"gid": "1500000000000005", "resource_type": "user"},
        "created_at": "2024-03-05T10:15:00.000Z",
        "action": "changed",
        "resource": {"gid": "1300000000000003", "resource_type": "task", "name": name},
        "parent": None,
        "change": {"field": "name", "action": "changed"},
    }


async def test_a_full_run_logs_and_reprs_no_secret_token_or_signature(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Subscribe, deliveries, forged requests, 429s, health, unsubscribe at DEBUG: nothing sensitive shown."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="asana_hooks")
    shown: list[str] = []
    seen: list[Event] = []
    router = Router()

    async def record(event: Event) -> None:
        seen.append(event)
        shown.append(repr(event))

    router.add(record)

    async def no_wait(seconds: float) -> None:
        pass

    async with Emulator(batch_window=0.005) as emulator:
        config = ClientConfig(base_url=emulator.base_url, retry=RetryPolicy(max_attempts=3))
        async with (
            AsanaClient(emulator.token, config=config, sleep=no_wait) as client,
            MemoryStore() as store,
            Hub(store=store, client=client) as hub,
            aiohttp.ClientSession() as attacker,
        ):
            emulator.faults.fail_next("POST", "/webhooks", 429, retry_after=1)
            subscription = await hub.subscribe(emulator.world.project_gid, router)
            [stored] = await store.list_records()
            secret = stored.secret
            emulator.emit(_event("one"), webhook_gid=subscription.webhook_gid)
            emulator.emit(_event("two"), webhook_gid=subscription.webhook_gid)
            await emulator.wait_idle()
            body = b'{"events":[]}'
            async with attacker.post(
                subscription.target, data=body, headers={"X-Hook-Signature": "0" * 64}
            ) as r:
                assert r.status == 401
            async with attacker.post(subscription.target, headers={"X-Hook-Secret": "f" * 32}) as r:
                assert r.status == 403
            emulator.faults.fail_next("GET", "/webhooks/", 503)
            reports = await hub.health()
            objects: list[object] = [
                hub,
                client,
                hub.receiver,
                store,
                subscription,
                stored,
                *await store.list_records(),
                *reports,
                subscription.webhook,
                config,
            ]
            # The emulator plays Asana, whose records show the target in plain: its reprs may show
            # path tokens, but never secrets, signatures or the bearer token.
            oracle: list[object] = [
                emulator,
                emulator.clock,
                *emulator.webhooks.values(),
                *emulator.deliveries,
                *emulator.handshakes,
            ]
            sensitive = _sensitive(emulator, [secret, stored.token, sign(secret, body)])
            path_tokens = _path_tokens(emulator)
            await subscription.unsubscribe()
    assert len(seen) == 2
    assert stored.token in path_tokens
    shown += [repr(obj) for obj in objects] + [str(obj) for obj in objects]
    assert len(caplog.records) > 10
    assert _leaks(_log_text(caplog.records), sensitive) == []
    assert _leaks("\n".join(shown), sensitive) == []
    oracle_shown = [repr(obj) for obj in oracle] + [str(obj) for obj in oracle]
    assert _leaks("\n".join(oracle_shown), sensitive - path_tokens) == []


async def test_reprs_of_subscription_objects_do_not_show_the_whole_path_token() -> None:
    """Subscription, SubscriptionRecord, HealthReport and Webhook reprs hide the path token."""
    async with (
        Emulator(batch_window=0.005) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
        MemoryStore() as store,
        Hub(store=store, client=client) as hub,
    ):
        subscription = await hub.subscribe(emulator.world.project_gid, Router())
        objects = [subscription, subscription.webhook, *await store.list_records(), *await hub.health()]
        [token] = _path_tokens(emulator)
    shown = "\n".join(f"{obj!r} {obj!s}" for obj in objects)
    assert token not in shown


async def test_exception_messages_and_reprs_carry_no_secret_or_token() -> None:
    """Typed errors from the create, list, get and delete paths name no token, secret or signature."""
    errors: list[BaseException] = []

    async def no_wait(seconds: float) -> None:
        pass

    async with Emulator(batch_window=0.005, handshake_timeout=0.3) as emulator:
        config = ClientConfig(base_url=emulator.base_url, retry=RetryPolicy(max_attempts=2))
        async with (
            AsanaClient(emulator.token, config=config, sleep=no_wait) as client,
            MemoryStore() as store,
            Hub(store=store, client=client) as hub,
        ):
            emulator.faults.drop_handshake(immediate=True)
            emulator.faults.fail_next("GET", "/webhooks", 429, retry_after=5, times=5)
            emulator.faults.fail_next("DELETE", "/webhooks/", 500)
            for attempt in (
                hub.subscribe(emulator.world.project_gid, Router()),
                client.get_webhook("1400000000000004"),
                client.list_webhook_page(emulator.world.workspace_gid),
                client.delete_webhook("1400000000000004"),
            ):
                try:
                    await attempt
                except AsanaHooksError as exc:
                    errors.append(exc)
        async with AsanaClient("0/wrong-token-0000000000", config=config) as stranger:
            try:
                await stranger.get_webhook("1400000000000004")
            except AsanaHooksError as exc:
                errors.append(exc)
        sensitive = _sensitive(emulator, ["0/wrong-token-0000000000"])
    assert len(errors) == 5
    text = "\n".join(f"{exc!s} {exc!r} {getattr(exc, '__notes__', '')}" for exc in errors)
    assert _leaks(text, sensitive) == []


async def test_handshake_error_messages_do_not_reveal_the_path_token() -> None:
    """HandshakeSecretMismatch names the target, but not the whole unguessable path token."""
    async with (
        Emulator(batch_window=0.005) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
        MemoryStore() as store,
        Hub(store=store, client=client) as hub,
    ):
        emulator.faults.wrong_handshake()
        with pytest.raises(HandshakeSecretMismatch) as caught:
            await hub.subscribe(emulator.world.project_gid, Router())
        [handshake] = emulator.handshakes
        token = handshake.target.rsplit("/", 1)[1]
    assert token not in f"{caught.value!s} {caught.value!r}"


class _Output:
    """A subprocess stream collected as it arrives, with a way to wait for some text."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._changed = anyio.Event()

    async def collect(self, stream: ByteReceiveStream | None) -> None:
        if stream is None:
            return
        async for chunk in stream:
            self.data.extend(chunk)
            self._changed.set()
            self._changed = anyio.Event()

    async def until(self, needle: bytes) -> None:
        while needle not in self.data:
            await self._changed.wait()


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ASANA")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


async def test_the_listen_command_prints_no_token_secret_or_signature(tmp_path: Path) -> None:
    """`asana-hooks listen` against an emulator with a known token: stdout/stderr hold none of them."""
    known = "known-emulator-token-" + new_path_token()
    out, err = _Output(), _Output()
    async with Emulator(token=known, batch_window=0.005) as emulator:
        command = [
            sys.executable,
            "-m",
            "asana_hooks",
            "listen",
            "--resource",
            emulator.world.project_gid,
            "--base-url",
            emulator.base_url,
            "--store",
            "sqlite:///" + str(tmp_path / "listen.sqlite3").lstrip("/"),
        ]
        with anyio.fail_after(30):
            async with (
                await anyio.open_process(
                    command, env=_env(ASANA_ACCESS_TOKEN=known), cwd=tmp_path
                ) as process,
                anyio.create_task_group() as group,
            ):
                group.start_soon(out.collect, process.stdout)
                group.start_soon(err.collect, process.stderr)
                await err.until(b"listening:")
                [gid] = emulator.webhooks
                emulator.emit(_event("through the CLI"), webhook_gid=gid)
                await out.until(b"through the CLI")
                sensitive = _sensitive(emulator)
                process.send_signal(signal.SIGINT)
                assert await process.wait() == 0
    text = (out.data + err.data).decode()
    assert "unsubscribed" in text
    assert known in sensitive
    assert len(sensitive) >= 4  # token, secret, path token, signatures
    assert _leaks(text, sensitive) == []


async def test_the_demo_prints_nothing_that_looks_like_a_token_or_secret() -> None:
    """`asana-hooks demo --json`: no run of 32+ URL-safe characters (tokens, hex secrets, signatures)."""
    with anyio.fail_after(30):
        result = await anyio.run_process(
            [sys.executable, "-m", "asana_hooks", "demo", "--json"], env=_env(), check=False
        )
    text = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, text
    assert '"type":"summary"' in text.replace(" ", "")
    assert _URLSAFE_RUN.findall(text) == []


def _modes(folder: Path, prefix: str) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.name.startswith(prefix)}


async def test_the_sqlite_store_file_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    """With umask 000, the database and its side files are created 0600."""
    path = tmp_path / "secrets.sqlite3"
    old = os.umask(0)
    try:
        async with SQLiteStore(path) as store:
            token = new_path_token()
            await store.add_pending(
                PendingCreate(
                    token=token, resource_gid="1", target="https://x/h/" + token, expires_at=time.time() + 60
                )
            )
            await store.capture_handshake(token, "7f3c1e9a2b4d6f8091a2b3c4d5e6f708", time.time())
            modes = _modes(tmp_path, path.name)
    finally:
        os.umask(old)
    assert path.name in modes
    assert modes == dict.fromkeys(modes, 0o600)


def test_path_tokens_carry_at_least_128_random_bits_and_never_repeat() -> None:
    """10,000 tokens: URL-safe, >= 128 bits each, all distinct, every bit position balanced."""
    samples = 10_000
    tokens = [new_path_token() for _ in range(samples)]
    assert len(set(tokens)) == samples
    raw = [base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) for token in tokens]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", token) for token in tokens)
    assert min(len(value) for value in raw) * 8 >= 128
    width = min(len(value) for value in raw) * 8
    as_ints = [int.from_bytes(value[: width // 8], "big") for value in raw]
    for bit in range(width):
        ones = sum((number >> bit) & 1 for number in as_ints)
        # Binomial(10,000, 0.5): 10 standard deviations is 500, so this never fails by chance.
        assert abs(ones - samples / 2) < 500, f"bit {bit} is biased: {ones}"


def test_path_tokens_do_not_come_from_the_seedable_random_module() -> None:
    """Seeding Python's `random` the same way twice still gives different tokens (OS CSPRNG)."""
    random.seed(1234)
    first = new_path_token()
    random.seed(1234)
    assert new_path_token() != first


async def test_the_hub_puts_a_fresh_full_length_token_in_every_target() -> None:
    """Targets the hub gives Asana end in distinct tokens of at least 128 bits."""
    async with (
        Emulator(batch_window=0.005) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
        MemoryStore() as store,
        Hub(store=store, client=client) as hub,
    ):
        for _ in range(5):
            subscription = await hub.subscribe(emulator.world.project_gid, Router())
            await subscription.unsubscribe()
        tokens = [handshake.target.rsplit("/", 1)[1] for handshake in emulator.handshakes]
    assert len(tokens) == len(set(tokens)) == 5
    assert all(len(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))) >= 16 for t in tokens)
