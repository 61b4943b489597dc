"""Nothing acknowledged is lost: a durable receiver process killed with SIGKILL after the 200s."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from asana_hooks.stores import SQLiteInbox, SQLiteStore
from tests.inbox.durable import TOKEN, batch, deliver, establish, eventually
from tests.redis.servers import delete_namespace, redis_url_or_skip, unique_namespace

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
N = 40


@asynccontextmanager
async def durable_process(
    store: Path, inbox: str, out: Path, *, stall: bool
) -> AsyncIterator[tuple[Process, str]]:
    """The receiver process and its base URL; killed on the way out if still running."""
    command = [sys.executable, "-m", "tests.inbox.durable_app", "--store", f"sqlite://{store}"]
    command += ["--inbox", inbox, "--out", str(out), "--lease", "1.0"] + (["--stall"] if stall else [])
    process = await anyio.open_process(command, cwd=REPO)
    try:
        assert process.stdout is not None
        with anyio.fail_after(15):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 4096)
        assert line.startswith(b"ready ")
        yield process, line.decode().split()[1]
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
        await process.aclose()


def handled(out: Path) -> list[str]:
    return out.read_text().split() if out.exists() else []


@pytest.fixture(params=["sqlite", "redis"])
async def inbox_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLite inbox file, or a Redis Streams inbox on a namespace of its own."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'inbox.db'}"
        return
    url = redis_url_or_skip()
    namespace = unique_namespace()
    try:
        yield f"{url}?namespace={namespace}"
    finally:
        await delete_namespace(url, namespace)


async def test_acknowledged_batches_survive_a_kill_9(tmp_path: Path, inbox_url: str) -> None:
    """N batches acknowledged by a stalled process, SIGKILL, restart: exactly those N are handled."""
    store_path, out = tmp_path / "secrets.db", tmp_path / "handled.txt"
    async with SQLiteStore(store_path) as store:
        await establish(store)
    expected = [str(4_000_000_000_100_000 + i) for i in range(N)]

    async with durable_process(store_path, inbox_url, out, stall=True) as (first, base_url):
        target = f"{base_url}/asana/h/{TOKEN}"
        async with aiohttp.ClientSession() as session:
            statuses = [await deliver(session, target, batch(gid)) for gid in expected]
        assert statuses == [200] * N
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    assert handled(out) == []
    if inbox_url.startswith("sqlite"):
        async with SQLiteInbox(tmp_path / "inbox.db") as inbox:
            assert await inbox.backlog() == N

    async def all_handled() -> bool:
        return len(handled(out)) >= N

    async with durable_process(store_path, inbox_url, out, stall=False) as (second, _):
        with anyio.fail_after(20):
            await eventually(all_handled)
        second.terminate()
        with anyio.fail_after(10):
            await second.wait()
    assert second.returncode == 0
    assert sorted(handled(out)) == sorted(expected)
