"""Fixtures: an emulator on a manual clock, a client whose retries never really sleep, a hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from asana_hooks import AsanaClient, ClientConfig, Hub, RetryPolicy
from asana_hooks.emulator import Emulator, ManualClock
from tests.reliability.invariants import ArmedMemoryStore


class SleepRecorder:
    """The client's injected ``sleep``: records each requested delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def clock() -> ManualClock:
    """The emulator's clock; tests move it by hand."""
    return ManualClock()


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    """A started emulator on loopback with short real-time budgets so failures end fast."""
    async with Emulator(clock=clock, batch_window=0.005, handshake_timeout=2.0, delivery_timeout=1.0) as emu:
        yield emu


@pytest.fixture
def sleeps() -> SleepRecorder:
    """What the client would have slept between retries."""
    return SleepRecorder()


@pytest.fixture
async def client(emulator: Emulator, sleeps: SleepRecorder) -> AsyncIterator[AsanaClient]:
    """A client on the emulator; retry waits are recorded, not slept."""
    config = ClientConfig(base_url=emulator.base_url, retry=RetryPolicy(max_attempts=5))
    async with AsanaClient(emulator.token, config=config, sleep=sleeps, random=lambda: 0.5) as api:
        yield api


@pytest.fixture
async def store() -> AsyncIterator[ArmedMemoryStore]:
    """An in-memory secret store that remembers the targets it was armed for."""
    async with ArmedMemoryStore() as memory:
        yield memory


@pytest.fixture
async def hub(client: AsanaClient, store: ArmedMemoryStore) -> AsyncIterator[Hub]:
    """A hub on the emulator with an in-memory store and an embedded receiver."""
    async with Hub(store=store, client=client) as hub:
        yield hub


@pytest.fixture
async def probe() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session for probing the receiver from outside."""
    async with aiohttp.ClientSession() as session:
        yield session
