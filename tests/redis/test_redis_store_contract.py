"""RedisStore passes the same SecretStore contract suite as MemoryStore and SQLiteStore.

The suite in tests/stores/test_store_contract.py is reused as is: every contract test that takes
the ``store`` fixture is collected here again, with ``store`` overridden to give a RedisStore on a
namespace of its own.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest

from asana_hooks.handshake import SecretStore
from asana_hooks.stores import RedisStore
from tests.stores import test_store_contract as contract

pytestmark = pytest.mark.anyio

_REUSED = [
    name
    for name, test in vars(contract).items()
    if name.startswith("test_") and "store" in inspect.signature(test).parameters
]
globals().update({name: getattr(contract, name) for name in _REUSED})


@pytest.fixture
async def store(redis_url: str, namespace: str) -> AsyncIterator[SecretStore]:
    """A RedisStore whose clock reads 0, so the suite's small expiry times become TTLs from now."""
    async with RedisStore(redis_url, namespace=namespace, clock=lambda: 0.0) as chosen:
        yield chosen


def test_the_whole_contract_suite_is_collected() -> None:
    """Every store-taking contract test (17 or more) is collected here against Redis."""
    assert len(_REUSED) >= 17
    assert all(globals()[name] is getattr(contract, name) for name in _REUSED)
