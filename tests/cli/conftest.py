"""Fixtures for CLI tests: an emulator on a background event loop, and the CLI run in-process.

``asana_hooks.cli.main`` calls ``anyio.run``, so it cannot run inside a test's event loop: the emulator
(and an echoing handshake target) run on a blocking portal's loop in another thread while the test
thread runs the command, exactly as a shell would, against real sockets.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from anyio.from_thread import BlockingPortal, start_blocking_portal

from asana_hooks import AsanaClient, ClientConfig
from asana_hooks.cli import main
from asana_hooks.emulator import Emulator

_T = TypeVar("_T")


@dataclass(frozen=True)
class Outcome:
    """What one run of the command left behind."""

    code: int
    out: str
    err: str

    def json_lines(self) -> list[Any]:
        """Every stdout line decoded as JSON (fails the test if one is not)."""
        return [json.loads(line) for line in self.out.splitlines()]


class Lab:
    """An emulator served from a background loop, with thread-safe ways to use it."""

    def __init__(self, portal: BlockingPortal, emulator: Emulator) -> None:
        self.portal = portal
        self.emulator = emulator

    def call(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run a plain function on the emulator's loop (its state is not thread-safe)."""
        return self.portal.call(functools.partial(self._sync, function, *args, **kwargs))

    @staticmethod
    async def _sync(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return function(*args, **kwargs)

    def api(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        """Call the emulator's REST API with its token, as another Asana user's script would."""

        async def go() -> Any:
            config = ClientConfig(base_url=self.emulator.base_url)
            async with AsanaClient(self.emulator.token, config=config) as client:
                return await client.request_json(method, path, data=data)

        return self.portal.call(go)

    def create_webhook(self, resource: str, target: str, filters: list[dict[str, Any]] | None = None) -> str:
        """Create a webhook directly (the target must echo the handshake); return its gid."""

        async def go() -> str:
            config = ClientConfig(base_url=self.emulator.base_url)
            async with AsanaClient(self.emulator.token, config=config) as client:
                created = await client.create_webhook(resource, target, filters)
                return created.webhook.gid

        return self.portal.call(go)

    def webhook_gids(self) -> set[str]:
        """The gids of the emulator's live webhooks."""
        return self.call(lambda: set(self.emulator.webhooks))


@asynccontextmanager
async def _echo_target() -> AsyncIterator[str]:
    """A real HTTP target that answers any handshake by echoing ``X-Hook-Secret``."""

    async def answer(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Hook-Secret")
        return web.Response(status=200, headers={"X-Hook-Secret": secret} if secret else None)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """An event loop in a background thread."""
    with start_blocking_portal() as running:
        yield running


def _start(
    portal: BlockingPortal, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, strict: bool
) -> Iterator[Lab]:
    manager = portal.wrap_async_context_manager(Emulator(batch_window=0.005, strict=strict))
    with manager as emulator:
        # The environment a user would set after `asana-hooks emulator`; the data directory is the
        # test's own, so that the default SQLite store never touches the real home directory.
        monkeypatch.setenv("ASANA_BASE_URL", emulator.base_url)
        monkeypatch.setenv("ASANA_ACCESS_TOKEN", emulator.token)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        yield Lab(portal, emulator)


@pytest.fixture
def lab(portal: BlockingPortal, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lab]:
    """A lenient emulator (loopback targets allowed), named by ASANA_BASE_URL/ASANA_ACCESS_TOKEN."""
    yield from _start(portal, monkeypatch, tmp_path, strict=False)


@pytest.fixture
def strict_lab(portal: BlockingPortal, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lab]:
    """A strict emulator: it refuses loopback targets with 403, as Asana does."""
    yield from _start(portal, monkeypatch, tmp_path, strict=True)


@pytest.fixture
def echo_target(portal: BlockingPortal) -> Iterator[str]:
    """The base URL of a target that answers handshakes."""
    with portal.wrap_async_context_manager(_echo_target()) as url:
        yield url


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``asana-hooks ARGS...`` in-process; every run is checked for a leaked token."""

    def run(*argv: str, secrets: tuple[str, ...] = ()) -> Outcome:
        code = main(list(argv))
        captured = capsys.readouterr()
        watched = [*secrets, os.environ.get("ASANA_ACCESS_TOKEN", "")]
        for secret in filter(None, watched):
            assert secret not in captured.out + captured.err, "a token reached the output"
        return Outcome(code, captured.out, captured.err)

    return run
