"""Fixtures for running the examples against the emulator: the emulator and a client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asana_hooks import AsanaClient, ClientConfig
from asana_hooks.emulator import Emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started emulator on loopback, port 0, with its seeded world."""
    async with Emulator(batch_window=0.005) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsanaClient]:
    """A client on the emulator, standing in for a person changing tasks in Asana."""
    async with AsanaClient(emulator.token, config=ClientConfig(base_url=emulator.base_url)) as api:
        yield api
