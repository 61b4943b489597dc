"""``serve --inbox``: a replica that acknowledges only persisted batches, as a child process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import anyio
import pytest

from asana_hooks import AsanaClient, ClientConfig, Hub, Router, SQLiteStore
from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.emulator import Emulator
from asana_hooks.stores import open_inbox
from tests.cli.processes import StreamLog, command, environment

pytestmark = pytest.mark.anyio

_PATIENCE = 20


async def test_serve_with_an_inbox_persists_then_prints_each_event(tmp_path: Path) -> None:
    """A stored webhook's deliveries are acknowledged once in the inbox, then printed by its workers."""
    secrets = tmp_path / "secrets.sqlite3"
    inbox_path = tmp_path / "inbox.sqlite3"
    async with (
        Emulator(batch_window=0.005) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
    ):
        # A webhook made by another replica: its secret is in the shared store, its target on `port`.
        async with SQLiteStore(secrets) as store, Hub(store=store, client=client) as maker:
            subscription = await maker.subscribe(emulator.world.project_gid, Router())
            port = int(maker.receiver.base_url.rsplit(":", 1)[1])
        args = (
            "serve",
            "--port",
            str(port),
            "--store",
            f"sqlite:///{secrets}",
            "--inbox",
            f"sqlite:///{inbox_path}",
        )
        out, err = StreamLog(), StreamLog()
        async with (
            await anyio.open_process(command(*args), env=environment(), cwd=tmp_path) as process,
            anyio.create_task_group() as readers,
        ):
            readers.start_soon(out.collect, process.stdout)
            readers.start_soon(err.collect, process.stderr)
            with anyio.fail_after(_PATIENCE):
                await err.until("serving on")
            task = emulator.world.task_gids[0]
            await client.request_json("PUT", f"/tasks/{task}", data={"name": "Persisted first"})
            with anyio.fail_after(_PATIENCE):
                [line] = await out.lines(1)
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(_PATIENCE):
                assert await process.wait() == ExitCode.OK
    printed = json.loads(line)
    assert printed["webhook_gid"] == subscription.webhook_gid
    assert printed["event"]["resource"]["gid"] == task
    delivered = [d for d in emulator.deliveries if d.events]
    assert [d.status for d in delivered] == [200]
    async with open_inbox(f"sqlite:///{inbox_path}") as inbox:
        assert await inbox.backlog() == 0
        assert await inbox.dead_letters() == []
