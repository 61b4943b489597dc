"""Fixtures for client tests: the scripted fake Asana, a client pointed at it, a sleep recorder.

Every request the client sends to the fake, and every conformant reply body, is checked against
Asana's OpenAPI spec when the test ends; a GET or DELETE with a body fails the test too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio.lowlevel
import pytest
from openapi_core.templating.responses.exceptions import ResponseNotFound

from asana_hooks.client import AsanaClient
from asana_hooks.config import ClientConfig, RetryPolicy
from tests import oas
from tests.client.fake_asana import FakeAsana

TOKEN = "0/fake-pat-0000"
WORKSPACE = "1100000000000001"
PROJECT = "1200000000000002"
WEBHOOK_GID = "1400000000000004"
SECRET = "7f3c1e9a2b4d6f8091a2b3c4d5e6f708"
TARGET = "https://hooks.example.test/asana/h/t1"


class SleepRecorder:
    """Stands in for ``anyio.sleep``: records each delay and returns at once (after a checkpoint)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await anyio.lowlevel.checkpoint()


def check_conformance(fake: FakeAsana) -> None:
    """Validate every recorded request and conformant reply against the spec; no GET/DELETE body."""
    assert not fake.unscripted, [f"{r.method} {r.path}" for r in fake.unscripted]
    for received, reply in fake.exchanges:
        if received.method in {"GET", "DELETE"}:
            assert received.body == b"", f"{received.method} {received.path} carried a body"
        oas.validate_request(received.method, received.url, received.body or None, received.headers)
        if not reply.conformant or reply.disconnect:
            continue
        try:
            oas.validate_response(received.method, received.url, reply.status, reply.body)
        except ResponseNotFound:
            # The spec lists only 400/401/403/404/500 per operation; other statuses (402, 429, 5xx)
            # still carry Asana's ErrorResponse shape.
            assert reply.status >= 400, reply.status
            oas.validate_schema("ErrorResponse", json.loads(reply.body))


@pytest.fixture
async def fake_asana(spec_available: None) -> AsyncIterator[FakeAsana]:
    """A running fake Asana; its whole traffic is checked against the spec at the end of the test."""
    async with FakeAsana() as fake:
        yield fake
    check_conformance(fake)


@pytest.fixture
def sleeps() -> SleepRecorder:
    """Records the client's retry delays instead of waiting."""
    return SleepRecorder()


def make_client(
    fake: FakeAsana,
    sleeps: SleepRecorder,
    *,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
) -> AsanaClient:
    """A client for the fake with the case token, recorded sleeps and a fixed jitter of 0.5."""
    settings = ClientConfig(base_url=fake.base_url, retry=retry or RetryPolicy(), timeout=timeout)
    return AsanaClient(TOKEN, config=settings, sleep=sleeps, random=lambda: 0.5)


@pytest.fixture
async def client(fake_asana: FakeAsana, sleeps: SleepRecorder) -> AsyncIterator[AsanaClient]:
    """An open client against the fake."""
    async with make_client(fake_asana, sleeps) as asana:
        yield asana
