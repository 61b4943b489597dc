"""Two real receiver processes sharing Redis: ``listen`` creates, ``serve`` answers its handshake.

The emulator runs as its own process too, so that everything crosses real sockets and processes:
``listen --public-url <serve's URL>`` makes Asana send the handshake for its create to ``serve``,
which answers it from the pending entry in Redis; ``listen``'s subscribe then completes with the
secret, ``serve`` verifies and prints Asana's deliveries, and ``listen`` verifies a signed one too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from anyio.abc import ByteReceiveStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream

from asana_hooks import AsanaClient, ClientConfig
from asana_hooks.signing import sign
from asana_hooks.stores import RedisStore
from tests.inbox.durable import batch
from tests.redis.servers import free_port

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
EMULATOR_TOKEN = "replica-test-token"


class Lines:
    """Lines of a process's output, read as they come."""

    def __init__(self, stream: ByteReceiveStream | None) -> None:
        assert stream is not None
        self._buffered = BufferedByteReceiveStream(stream)
        self.seen: list[str] = []

    async def until(self, wanted: Callable[[str], bool]) -> str:
        """The first further line for which ``wanted`` holds (callers bound the wait)."""
        while True:
            try:
                line = (await self._buffered.receive_until(b"\n", 1 << 20)).decode()
            except (anyio.IncompleteRead, anyio.EndOfStream):
                pytest.fail(f"the process closed its output; it had printed: {self.seen!r}")
            self.seen.append(line)
            if wanted(line):
                return line


@asynccontextmanager
async def started(args: list[str], env: dict[str, str] | None = None) -> AsyncIterator[Process]:
    """A ``python -m ...`` process in the repository, killed on the way out if still running."""
    process = await anyio.open_process(
        [sys.executable, "-m", *args], cwd=REPO, env={**os.environ, **(env or {})}
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()


async def stop(process: Process) -> int:
    process.send_signal(signal.SIGTERM)
    with anyio.fail_after(10):
        return await process.wait()


async def test_listen_creates_serve_answers_the_handshake_and_both_verify(
    redis_url: str, namespace: str
) -> None:
    """listen's create completes via serve's handshake; serve prints Asana's events, listen a signed one."""
    store_url = f"{redis_url}?namespace={namespace}"
    with anyio.fail_after(40):
        async with started(
            ["asana_hooks.emulator", "--port", "0"], {"ASANA_HOOKS_EMULATOR_TOKEN": EMULATOR_TOKEN}
        ) as emulator:
            line = await Lines(emulator.stdout).until(lambda text: text.startswith("Asana emulator:"))
            api = line.split()[-1]
            async with AsanaClient(EMULATOR_TOKEN, config=ClientConfig(base_url=api)) as client:
                [workspace, *_] = await client.request_json("GET", "/workspaces")
                [project, *_] = await client.request_json(
                    "GET", "/projects", params={"workspace": workspace["gid"]}
                )

                async with started(["asana_hooks", "serve", "--store", store_url, "--port", "0"]) as serve:
                    serve_err, serve_out = Lines(serve.stderr), Lines(serve.stdout)
                    line = await serve_err.until(lambda text: text.startswith("serving on "))
                    serve_url = line.split()[2].rstrip(":")

                    listen_port = free_port()
                    listen_args = [
                        "asana_hooks",
                        "listen",
                        "--resource",
                        project["gid"],
                        "--store",
                        store_url,
                    ]
                    listen_args += ["--public-url", serve_url, "--port", str(listen_port)]
                    env = {"ASANA_ACCESS_TOKEN": EMULATOR_TOKEN, "ASANA_BASE_URL": api}
                    async with started(listen_args, env) as listen:
                        listen_err, listen_out = Lines(listen.stderr), Lines(listen.stdout)
                        line = await listen_err.until(lambda text: text.startswith("listening:"))
                        webhook_gid = line.split()[3]
                        assert f"Asana delivers to {serve_url}/asana/h/<token>" in line

                        # Asana's delivery goes to serve, which verifies and prints it.
                        task = await client.request_json(
                            "POST", "/tasks", data={"name": "Draft", "projects": [project["gid"]]}
                        )
                        printed = await serve_out.until(lambda text: task["gid"] in text)
                        shown: dict[str, Any] = json.loads(printed)
                        assert shown["webhook_gid"] == webhook_gid
                        assert shown["event"]["resource"]["gid"] == task["gid"]

                        # listen verifies with the same secret, read from the shared store.
                        async with RedisStore(redis_url, namespace=namespace) as store:
                            record = await store.find_by_webhook(webhook_gid)
                        assert record is not None
                        token = record.target.rsplit("/", 1)[1]
                        body = batch("4000000000000999")
                        async with (
                            aiohttp.ClientSession() as session,
                            session.post(
                                f"http://127.0.0.1:{listen_port}/asana/h/{token}",
                                data=body,
                                headers={"X-Hook-Signature": sign(record.secret, body)},
                            ) as response,
                        ):
                            assert response.status == 200
                        printed = await listen_out.until(lambda text: "4000000000000999" in text)
                        assert json.loads(printed)["webhook_gid"] == webhook_gid

                        assert await stop(listen) == 0
                    assert await stop(serve) == 0
            await stop(emulator)
