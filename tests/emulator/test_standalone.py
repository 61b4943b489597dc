"""The emulator as a process: ``python -m asana_hooks.emulator`` prints its URL and serves until stopped."""

from __future__ import annotations

import io
import os
import runpy
import signal
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from asana_hooks.emulator.standalone import TOKEN_ENV, main

REPO_ROOT = Path(__file__).resolve().parents[2]


async def read_lines(stream: TextReceiveStream, count: int) -> list[str]:
    """The first `count` lines of a text stream."""
    buffer = ""
    while buffer.count("\n") < count:
        buffer += await stream.receive()
    return buffer.splitlines()[:count]


@pytest.mark.anyio
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_the_module_serves_authenticated_requests_until_signalled(stop: signal.Signals) -> None:
    """Started with --port 0 --token X, it prints a base URL that answers X, then exits 0 on a signal."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "asana_hooks.emulator", "--port", "0", "--token", "X"]
    async with await anyio.open_process(command, env=env) as process:
        assert process.stdout is not None
        with anyio.fail_after(20):
            url_line, token_line = await read_lines(TextReceiveStream(process.stdout), 2)
        base_url = url_line.removeprefix("Asana emulator: ")
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/api/1.0")
        assert "X" not in token_line.split(":", 1)[1]
        async with aiohttp.ClientSession() as session:
            async with session.get(base_url + "/users/me", headers={"Authorization": "Bearer X"}) as response:
                assert response.status == 200
            async with session.get(base_url + "/users/me", headers={"Authorization": "Bearer Y"}) as response:
                assert response.status == 401
        process.send_signal(stop)
        with anyio.fail_after(20):
            assert await process.wait() == 0


@pytest.mark.anyio
async def test_a_generated_token_is_printed_once_and_works() -> None:
    """Without --token the generated token is printed once, and it authenticates."""
    env = {key: value for key, value in os.environ.items() if key != "ASANA_HOOKS_EMULATOR_TOKEN"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    command = [sys.executable, "-m", "asana_hooks.emulator", "--port", "0"]
    async with await anyio.open_process(command, env=env) as process:
        assert process.stdout is not None
        with anyio.fail_after(20):
            url_line, token_line = await read_lines(TextReceiveStream(process.stdout), 2)
        token = token_line.removeprefix("Token: ")
        async with aiohttp.ClientSession() as session:
            url = url_line.removeprefix("Asana emulator: ") + "/users/me"
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200
        process.terminate()
        with anyio.fail_after(20):
            assert await process.wait() == 0


class SignalAfterTokenLine(io.StringIO):
    """Captures stdout and raises SIGTERM once the token line is printed (the server is up by then)."""

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.startswith("Token:"):
            signal.raise_signal(signal.SIGTERM)
        return written


def test_main_takes_the_token_from_the_environment_and_never_echoes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """main() serves until SIGTERM, prints the base URL, and does not print a supplied token."""
    out = SignalAfterTokenLine()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv(TOKEN_ENV, "secret-from-env")
    assert main(["--port", "0", "--verbose"]) == 0
    printed = out.getvalue()
    assert printed.startswith("Asana emulator: http://127.0.0.1:")
    assert "Token: (as supplied)" in printed
    assert "secret-from-env" not in printed


def test_running_the_package_as_a_module_exits_with_mains_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m asana_hooks.emulator` calls main() and exits with its status (0 after SIGTERM)."""
    monkeypatch.setattr(sys, "stdout", SignalAfterTokenLine())
    monkeypatch.setattr(sys, "argv", ["asana_hooks.emulator", "--port", "0", "--token", "T"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("asana_hooks.emulator", run_name="__main__")
    assert caught.value.code == 0
