"""Running ``python -m asana_hooks`` as a child process, the way a shell does, and reading its output."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream

REPO = Path(__file__).resolve().parents[2]


def command(*args: str) -> list[str]:
    """The argv of ``python -m asana_hooks ARGS...`` with this interpreter."""
    return [sys.executable, "-m", "asana_hooks", *args]


def environment(**extra: str) -> dict[str, str]:
    """This environment minus every ASANA* variable, with the repository importable, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ASANA")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


class StreamLog:
    """A child's stream collected as it arrives, with ways to wait for what it prints."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._changed = anyio.Event()

    async def collect(self, stream: ByteReceiveStream | None) -> None:
        """Read the stream to its end (run it in a task group)."""
        if stream is None:
            return
        async for chunk in stream:
            self.data.extend(chunk)
            self._changed.set()
            self._changed = anyio.Event()

    async def until(self, needle: str) -> None:
        """Wait until ``needle`` has been printed."""
        while needle.encode() not in self.data:
            await self._changed.wait()

    async def lines(self, count: int) -> list[str]:
        """Wait for ``count`` complete lines and return them."""
        while self.data.count(b"\n") < count:
            await self._changed.wait()
        return self.data.decode().splitlines()[:count]

    @property
    def text(self) -> str:
        """Everything printed so far."""
        return self.data.decode(errors="replace")
