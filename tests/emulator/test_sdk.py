"""Asana's official Python SDK (v5, synchronous) works against the emulator like against Asana."""

from __future__ import annotations

from typing import Any

import anyio
import asana
import pytest
from asana.rest import ApiException

from asana_hooks.emulator import Emulator
from tests.emulator.target_server import TargetServer

pytestmark = pytest.mark.anyio


def webhooks_api(emulator: Emulator) -> Any:
    """An SDK WebhooksApi pointed at the emulator."""
    configuration = asana.Configuration()
    configuration.host = emulator.base_url
    configuration.access_token = emulator.token
    return asana.WebhooksApi(asana.ApiClient(configuration))


async def test_the_sdk_creates_lists_gets_updates_and_deletes_a_webhook(
    emulator: Emulator, target: TargetServer
) -> None:
    """The SDK's create runs in a thread while the loop answers the handshake; the rest round-trips."""
    api = webhooks_api(emulator)
    body = {"data": {"resource": emulator.world.project_gid, "target": target.url("sdk", "a=1")}}

    created = await anyio.to_thread.run_sync(lambda: api.create_webhook(body, {}))
    gid = created["gid"]
    assert created["target"] == target.url("sdk", "a=1")
    assert target.handshakes[0].path_qs == "/hook/sdk?a=1"

    listed = await anyio.to_thread.run_sync(lambda: list(api.get_webhooks(emulator.world.workspace_gid, {})))
    assert [item["gid"] for item in listed] == [gid]

    fetched = await anyio.to_thread.run_sync(
        lambda: api.get_webhook(gid, {"opt_fields": "last_success_at,filters"})
    )
    assert fetched["last_success_at"] is not None

    new_filters = {"data": {"filters": [{"resource_type": "task", "action": "changed", "fields": ["name"]}]}}
    updated = await anyio.to_thread.run_sync(lambda: api.update_webhook(new_filters, gid, {}))
    assert updated["filters"][0]["fields"] == ["name"]

    deleted = await anyio.to_thread.run_sync(lambda: api.delete_webhook(gid))
    assert deleted == {}
    with pytest.raises(ApiException) as caught:
        await anyio.to_thread.run_sync(lambda: api.get_webhook(gid, {}))
    assert caught.value.status == 404


async def test_the_sdk_follows_pagination_across_pages(emulator: Emulator, target: TargetServer) -> None:
    """With a small page limit the SDK's iterator follows next_page.offset to the end."""
    api = webhooks_api(emulator)
    gids = []
    for index in range(5):
        body = {"data": {"resource": emulator.world.project_gid, "target": target.url(f"p{index}")}}
        gids.append((await anyio.to_thread.run_sync(api.create_webhook, body, {}))["gid"])
    listed = await anyio.to_thread.run_sync(
        lambda: list(api.get_webhooks(emulator.world.workspace_gid, {"limit": 2}))
    )
    assert [item["gid"] for item in listed] == gids


async def test_the_sdk_surfaces_a_failed_handshake_as_an_api_exception(
    emulator: Emulator, target: TargetServer
) -> None:
    """A target that does not echo the secret makes the SDK's create raise with status 400."""
    target.echo = None
    api = webhooks_api(emulator)
    body = {"data": {"resource": emulator.world.project_gid, "target": target.url()}}
    with pytest.raises(ApiException) as caught:
        await anyio.to_thread.run_sync(lambda: api.create_webhook(body, {}))
    assert caught.value.status == 400
    assert b"handshake failed" in caught.value.body
