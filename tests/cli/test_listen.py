"""``listen``: end to end as a child process, and its refusals in-process."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from asana_hooks import AsanaClient, ClientConfig
from asana_hooks.cli.exit_codes import ExitCode
from asana_hooks.emulator import Emulator
from tests.cli.conftest import Cli, Lab
from tests.cli.processes import StreamLog, command, environment

# A child process starts in about half a second; the rest is loopback traffic.
_PATIENCE = 20


@asynccontextmanager
async def _listening(
    emulator: Emulator, tmp_path: Path, *args: str
) -> AsyncIterator[tuple[Process, StreamLog, StreamLog]]:
    """`asana-hooks listen ARGS...` on the emulator, once it has said it is listening."""
    env = environment(
        ASANA_BASE_URL=emulator.base_url,
        ASANA_ACCESS_TOKEN=emulator.token,
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    out, err = StreamLog(), StreamLog()
    process = await anyio.open_process(command("listen", *args), env=env, cwd=tmp_path)
    try:
        async with process, anyio.create_task_group() as readers:
            readers.start_soon(out.collect, process.stdout)
            readers.start_soon(err.collect, process.stderr)
            with anyio.fail_after(_PATIENCE):
                await err.until("listening:")
            yield process, out, err
    finally:
        if process.returncode is None:
            process.kill()


def _sent_events(emulator: Emulator, webhook_gid: str) -> list[dict[str, Any]]:
    """Every event the emulator delivered to the webhook, decoded from the exact bytes it sent."""
    events: list[dict[str, Any]] = []
    for record in emulator.deliveries:
        if record.kind == "delivery" and record.webhook_gid == webhook_gid:
            events += json.loads(record.body)["events"]
    return events


@pytest.mark.anyio
async def test_listen_streams_each_event_as_sent_and_unsubscribes_on_sigterm(tmp_path: Path) -> None:
    """Each verified event is one stdout line holding it exactly as sent, unknown keys included;
    SIGTERM deletes the webhook and exits 0."""
    async with (
        Emulator(batch_window=0.005) as emulator,
        AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as client,
    ):
        project, task = emulator.world.project_gid, emulator.world.task_gids[0]
        store = "sqlite://" + (tmp_path / "secrets.sqlite3").as_posix()
        async with _listening(emulator, tmp_path, "--resource", project, "--store", store) as (
            process,
            out,
            err,
        ):
            [gid] = emulator.webhooks
            await client.request_json("PUT", f"/tasks/{task}", data={"name": "Renamed by the test"})
            with anyio.fail_after(_PATIENCE):
                [first] = await out.lines(1)
            odd = {
                "action": "changed",
                "resource": {"gid": task, "resource_type": "task", "shiny_new_key": [1, {"x": None}]},
                "created_at": "2030-01-01T00:00:00.000Z",
                "surprise": {"nested": True},
            }
            assert emulator.emit(odd, webhook_gid=gid) == 1
            with anyio.fail_after(_PATIENCE):
                _, second = await out.lines(2)
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(_PATIENCE):
                assert await process.wait() == ExitCode.OK
        renamed, emitted = _sent_events(emulator, gid)
        assert json.loads(first) == {"webhook_gid": gid, "event": renamed}
        assert renamed["change"]["field"] == "name"
        assert json.loads(second) == {"webhook_gid": gid, "event": emitted}
        assert emitted == odd
        assert gid not in emulator.webhooks
        assert f"unsubscribed: webhook {gid} deleted" in err.text
        assert emulator.token not in out.text + err.text


@pytest.mark.anyio
async def test_listen_keep_leaves_the_webhook_and_its_secret_on_sigint(tmp_path: Path) -> None:
    """With --keep, SIGINT exits 0 and the webhook stays at Asana, its secret in the default store."""
    async with Emulator(batch_window=0.005) as emulator:
        project = emulator.world.project_gid
        args = ("--resource", project, "--filter", "task:changed:name", "--keep")
        async with _listening(emulator, tmp_path, *args) as (process, _, err):
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(_PATIENCE):
                assert await process.wait() == ExitCode.OK
        [hook] = emulator.webhooks.values()
        assert hook.filters == [
            {"resource_type": "task", "resource_subtype": None, "action": "changed", "fields": ["name"]}
        ]
        assert f"keeping webhook {hook.gid}" in err.text
        assert (tmp_path / "data" / "asana-hooks" / "secrets.sqlite3").is_file()


def test_a_refused_localhost_target_explains_tunnels_and_public_url(strict_lab: Lab, cli: Cli) -> None:
    """On Asana (strict), a loopback receiver is refused: forbidden code, one line naming --public-url."""
    result = cli("listen", "--resource", strict_lab.emulator.world.project_gid, "--store", "memory:")
    assert result.code == ExitCode.FORBIDDEN
    assert result.err.count("\n") == 1
    assert "--public-url" in result.err
    assert "tunnel" in result.err
    assert strict_lab.webhook_gids() == set()
    # The target's path token (the create's correlation key) is shortened to its first characters.
    assert re.search(r"/asana/h/[A-Za-z0-9_-]{4}\.\.\.", result.err)
    assert not re.search(r"/h/[A-Za-z0-9_-]{5}", result.err)


def test_a_refused_public_url_is_named_in_the_error(strict_lab: Lab, cli: Cli) -> None:
    """Targets are built on --public-url; when Asana refuses it, the line says so."""
    project = strict_lab.emulator.world.project_gid
    result = cli("listen", "--resource", project, "--store", "memory:", "--public-url", "http://10.1.2.3")
    assert result.code == ExitCode.FORBIDDEN
    assert "http://10.1.2.3/asana/h/" in result.err
    assert "--public-url http://10.1.2.3 was refused" in result.err


def test_a_workspace_without_filters_is_a_bad_request_with_a_hint(lab: Lab, cli: Cli) -> None:
    """listen on a workspace without --filter: the bad-request code and an example filter."""
    result = cli("listen", "--resource", lab.emulator.world.workspace_gid, "--store", "memory:")
    assert result.code == ExitCode.BAD_REQUEST
    assert "--filter project:added" in result.err


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--store", "mongodb://db.example.test/x"), "no secret store for scheme 'mongodb'"),
        (("--store", "sqlite://host/x.db"), "takes no host"),
        (("--public-url", "ftp://example.test"), "public_url must be"),
        (("--filter", "task:added:name"), "only valid with the action 'changed'"),
    ],
)
def test_bad_listen_options_are_usage_errors(lab: Lab, cli: Cli, args: tuple[str, ...], reason: str) -> None:
    """A bad store URL, public URL or filter: the usage code and why, before anything is created."""
    result = cli("listen", "--resource", lab.emulator.world.project_gid, *args)
    assert result.code == ExitCode.USAGE
    assert reason in result.err
    assert lab.webhook_gids() == set()


def test_a_busy_port_exits_with_the_bind_code(lab: Lab, cli: Cli) -> None:
    """--port already taken (here by the emulator): the bind code and one line, no traceback."""
    busy = lab.emulator.base_url.split(":")[2].split("/")[0]
    result = cli("listen", "--resource", lab.emulator.world.project_gid, "--store", "memory:", "--port", busy)
    assert result.code == ExitCode.BIND
    assert result.err.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{busy}" in result.err


@pytest.mark.anyio
async def test_a_second_signal_quits_at_once_without_clean_up(tmp_path: Path) -> None:
    """If the clean-up hangs (DELETE held for 30 s), a second signal exits at once with 130."""
    async with Emulator(batch_window=0.005) as emulator:
        emulator.faults.delay_next("DELETE", "/webhooks", 30)
        args = ("--resource", emulator.world.project_gid, "--store", "memory:")
        async with _listening(emulator, tmp_path, *args) as (process, _, err):
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(_PATIENCE):
                await err.until("received SIGTERM: stopping")
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(_PATIENCE):
                assert await process.wait() == ExitCode.INTERRUPTED
        assert "quitting without clean-up" in err.text


def test_a_store_that_cannot_open_exits_with_the_store_code(lab: Lab, cli: Cli, tmp_path: Path) -> None:
    """A SQLite path under a regular file cannot be created: the store code and a hint about --store."""
    (tmp_path / "file").write_text("not a directory", encoding="utf-8")
    store = "sqlite://" + (tmp_path / "file" / "secrets.db").as_posix()
    result = cli("listen", "--resource", lab.emulator.world.project_gid, "--store", store)
    assert result.code == ExitCode.STORE
    assert result.err.count("\n") == 1
    assert "check --store" in result.err


def test_a_mismatched_handshake_secret_exits_with_the_handshake_code(lab: Lab, cli: Cli) -> None:
    """When the 201's secret differs from the handshake's: the handshake code, and no webhook is left."""
    lab.call(lab.emulator.faults.wrong_handshake)
    result = cli("listen", "--resource", lab.emulator.world.project_gid, "--store", "memory:")
    assert result.code == ExitCode.HANDSHAKE
    assert result.err.count("\n") == 1
    assert "does not match the handshake" in result.err
    assert lab.webhook_gids() == set()


def test_a_handshake_asana_could_not_deliver_explains_public_url(lab: Lab, cli: Cli) -> None:
    """Asana answers 400 when its handshake fails: the handshake code and a hint about --public-url."""
    lab.call(lab.emulator.faults.drop_handshake, immediate=True)
    result = cli("listen", "--resource", lab.emulator.world.project_gid, "--store", "memory:")
    assert result.code == ExitCode.HANDSHAKE
    assert result.err.count("\n") == 1
    assert "handshake failed" in result.err
    assert "--public-url" in result.err
    assert lab.webhook_gids() == set()
