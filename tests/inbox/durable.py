"""Helpers for durable-mode tests: an established webhook in a store, signed posts, waiting."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio

from asana_hooks.handshake import PendingCreate, SecretStore
from asana_hooks.signing import sign
from tests.core.case_values import PROJECT_GID, WEBHOOK_GID, S

TOKEN = "durableToken0123456789abcdefABCD"


async def establish(store: SecretStore, token: str = TOKEN, now: float = 0.0) -> None:
    """Put an established webhook (secret S, gid WEBHOOK_GID) in ``store`` without HTTP."""
    await store.add_pending(
        PendingCreate(
            token=token,
            resource_gid=PROJECT_GID,
            target=f"http://127.0.0.1/asana/h/{token}",
            expires_at=now + 3600.0,
        )
    )
    await store.capture_handshake(token, S, now)
    await store.attach_webhook(token, WEBHOOK_GID)
    await store.clear_pending(token)


def batch(*tags: str) -> bytes:
    """A delivery body with one task-changed event per tag (the tag is the task gid)."""
    events: list[dict[str, Any]] = [
        {
            "user": {"gid": "4000000000000001", "resource_type": "user"},
            "created_at": "2024-03-05T10:15:00.000Z",
            "action": "changed",
            "resource": {"gid": tag, "resource_type": "task"},
            "parent": None,
            "change": {"field": "name", "action": "changed"},
        }
        for tag in tags
    ]
    return json.dumps({"events": events}).encode()


async def deliver(session: aiohttp.ClientSession, url: str, body: bytes, secret: str = S) -> int:
    """POST a signed delivery; return the status."""
    async with session.post(url, data=body, headers={"X-Hook-Signature": sign(secret, body)}) as response:
        return response.status


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check`` holds (work done by other tasks or processes); callers bound the wait."""
    for _ in itertools.count():
        if await check():
            return
        await anyio.sleep(0.01)
