"""``emulator``: serves the local Asana as a child process until SIGTERM/SIGINT."""

from __future__ import annotations

import signal

import anyio
import pytest

from asana_hooks import AsanaClient, ClientConfig, InvalidTarget, Unauthorized
from asana_hooks.cli.exit_codes import ExitCode
from tests.cli.conftest import Cli, Lab
from tests.cli.processes import StreamLog, command, environment

_PATIENCE = 20


@pytest.mark.anyio
async def test_emulator_prints_its_base_url_and_a_working_token_then_stops_on_sigterm() -> None:
    """stdout is the base URL and a generated token that the emulator accepts; SIGTERM exits 0."""
    out, err = StreamLog(), StreamLog()
    async with (
        await anyio.open_process(command("emulator", "--port", "0"), env=environment()) as process,
        anyio.create_task_group() as readers,
    ):
        readers.start_soon(out.collect, process.stdout)
        readers.start_soon(err.collect, process.stderr)
        with anyio.fail_after(_PATIENCE):
            url_line, token_line = await out.lines(2)
            await err.until("stop with Ctrl-C")
        base_url = url_line.removeprefix("Asana emulator: ")
        token = token_line.removeprefix("Token: ")
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/api/1.0")
        assert len(token) >= 32
        async with AsanaClient(token, config=ClientConfig(base_url=base_url)) as client:
            me = await client.request_json("GET", "/users/me")
        async with AsanaClient("wrong", config=ClientConfig(base_url=base_url)) as client:
            with pytest.raises(Unauthorized):
                await client.request_json("GET", "/users/me")
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(_PATIENCE):
            assert await process.wait() == ExitCode.OK
    assert me["gid"]
    assert f"export ASANA_BASE_URL={base_url}" in err.text
    assert "received SIGTERM" in err.text


@pytest.mark.anyio
async def test_a_supplied_token_is_never_echoed_and_strict_refuses_loopback() -> None:
    """A token from $ASANA_HOOKS_EMULATOR_TOKEN is used but not printed; --strict refuses loopback
    targets as Asana does; SIGINT exits 0."""
    supplied = "supplied-emulator-token-5f0e2a"
    out, err = StreamLog(), StreamLog()
    env = environment(ASANA_HOOKS_EMULATOR_TOKEN=supplied)
    async with (
        await anyio.open_process(command("emulator", "--strict"), env=env) as process,
        anyio.create_task_group() as readers,
    ):
        readers.start_soon(out.collect, process.stdout)
        readers.start_soon(err.collect, process.stderr)
        with anyio.fail_after(_PATIENCE):
            url_line, token_line = await out.lines(2)
        assert token_line == "Token: (as supplied)"
        base_url = url_line.removeprefix("Asana emulator: ")
        async with AsanaClient(supplied, config=ClientConfig(base_url=base_url)) as client:
            [workspace] = await client.request_json("GET", "/workspaces")
            with pytest.raises(InvalidTarget):
                await client.create_webhook(
                    workspace["gid"], "http://127.0.0.1:9/h", [{"resource_type": "project"}]
                )
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(_PATIENCE):
            assert await process.wait() == ExitCode.OK
    assert supplied not in out.text + err.text
    assert "strict" in err.text


def test_a_busy_port_exits_with_the_bind_code(lab: Lab, cli: Cli) -> None:
    """`emulator --port P` with P taken: the bind code and one line, no traceback."""
    busy = lab.emulator.base_url.split(":")[2].split("/")[0]
    result = cli("emulator", "--port", busy)
    assert result.code == ExitCode.BIND
    assert result.err.startswith(f"asana-hooks: error: cannot serve the emulator on 127.0.0.1:{busy}: ")
    assert result.err.count("\n") == 1
    assert "pick another --host/--port" in result.err
    assert result.out == ""
