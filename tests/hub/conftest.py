"""Fixtures for end-to-end tests: the emulator, a client on it, and a hub with a memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asana_hooks import AsanaClient, ClientConfig, Hub, MemoryStore
from asana_hooks.emulator import Emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started emulator on loopback, port 0, with its seeded world."""
    async with Emulator(batch_window=0.005) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsanaClient]:
    """A client pointed at the emulator."""
    async with AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as api:
        yield api


@pytest.fixture
async def hub(client: AsanaClient) -> AsyncIterator[Hub]:
    """A hub on the emulator with an in-memory store and an embedded receiver."""
    async with MemoryStore() as store, Hub(store=store, client=client) as hub:
        yield hub
