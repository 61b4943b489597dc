"""Shared test configuration: anyio on asyncio, and the OpenAPI spec when it is present."""

from __future__ import annotations

import pytest

from tests import oas


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Every async test runs on asyncio: aiohttp needs it."""
    return "asyncio"


@pytest.fixture(scope="session")
def spec_available() -> None:
    """Skip the requesting test, with the reason, when Asana's OpenAPI spec is not found."""
    if not oas.spec_path().is_file():
        pytest.skip(f"Asana's OpenAPI spec not found at {oas.spec_path()}; set ASANA_OAS_PATH to its path")
