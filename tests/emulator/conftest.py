"""Fixtures for the emulator's tests: a manual clock, the emulator, a target server, a REST client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from asana_hooks.emulator import Emulator, ManualClock
from tests import oas
from tests.emulator.rest_client import Rest
from tests.emulator.target_server import TargetServer


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2024-01-01T00:00:00Z."""
    return ManualClock()


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    """A started emulator on the manual clock, with short real-time windows."""
    async with Emulator(clock=clock, batch_window=0.01, handshake_timeout=2.0, delivery_timeout=2.0) as emu:
        yield emu


@pytest.fixture
async def target() -> AsyncIterator[TargetServer]:
    """A plain receiver that answers handshakes correctly and deliveries with 200."""
    async with TargetServer() as server:
        yield server


@pytest.fixture
async def rest(emulator: Emulator) -> AsyncIterator[Rest]:
    """A client for the emulator; webhook traffic is checked against the spec when it is present."""
    async with aiohttp.ClientSession() as session:
        yield Rest(session, emulator.base_url, emulator.token, validate=oas.spec_path().is_file())
