"""Finding, starting and cleaning Redis servers for tests (used by tests/redis and tests/inbox)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

REDIS_URL_ENV = "ASANA_HOOKS_REDIS_URL"
REDIS_SERVER_ENV = "ASANA_HOOKS_REDIS_SERVER"


def redis_url_or_skip() -> str:
    """The shared test Redis URL, or skip the test saying how to get one."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        pytest.skip(f"no Redis configured: set {REDIS_URL_ENV}=redis://127.0.0.1:6399/0 (.ci/run does)")
    return url


def redis_server_binary() -> str:
    """The redis-server executable, or skip the test."""
    binary = os.environ.get(REDIS_SERVER_ENV) or shutil.which("redis-server")
    if not binary or not Path(binary).exists():
        pytest.skip(f"no redis-server to start: set {REDIS_SERVER_ENV} or put redis-server on PATH")
    return binary


def unique_namespace() -> str:
    """A key namespace no other test uses."""
    return f"test-{uuid.uuid4().hex}"


async def delete_namespace(url: str, namespace: str) -> None:
    """Delete every key of ``namespace`` (and nothing else)."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process on loopback with appendonly and ``appendfsync always``."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart, on the same port and directory) and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - a fixed argv of our own
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what was fsync'd survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        self.process = None
