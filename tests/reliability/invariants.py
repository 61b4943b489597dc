"""The one invariant every fault scenario ends in: nothing half-made between Asana and the store."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

from asana_hooks import MemoryStore, SecretStore
from asana_hooks.emulator import Emulator
from asana_hooks.handshake import PendingCreate


class ArmedMemoryStore(MemoryStore):
    """A real MemoryStore that also remembers every target it was armed for, so a test can probe
    afterwards that no pending create was left behind (the store has no public list of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed_targets: list[str] = []

    async def add_pending(self, pending: PendingCreate) -> None:
        """Arm the handshake and note the target."""
        await super().add_pending(pending)
        self.armed_targets.append(pending.target)


async def assert_nothing_half_made(
    emulator: Emulator,
    store: SecretStore,
    *,
    probe: aiohttp.ClientSession | None = None,
    armed: Iterable[str] = (),
) -> None:
    """Every webhook at the emulator has a stored secret with the same value, every stored record has
    a live webhook, and (with ``probe``) no handshake target the emulator ever called still accepts a
    handshake, i.e. no pending create was left armed.

    Args:
        emulator: The emulator playing Asana.
        store: The store the library used.
        probe: A session to POST a late handshake to every target the emulator shook hands with;
            the receiver must be running for this check.
        armed: More targets to probe (e.g. ``ArmedMemoryStore.armed_targets``).
    """
    records = await store.list_records()
    unattached = [record.resource_gid for record in records if record.webhook_gid is None]
    assert not unattached, f"secrets stored without a webhook (resources {unattached})"
    stored = {record.webhook_gid: record for record in records if record.webhook_gid is not None}
    live = dict(emulator.webhooks)
    orphans = sorted(set(live) - set(stored))
    assert not orphans, f"webhooks at Asana without a stored secret: {orphans}"
    dangling = sorted(gid for gid in stored if gid not in live)
    assert not dangling, f"stored records whose webhook is gone: {dangling}"
    for gid, hook in live.items():
        assert stored[gid].secret == hook.secret, f"webhook {gid}: stored secret differs from Asana's"
        assert stored[gid].target == hook.target, f"webhook {gid}: stored target differs from Asana's"
    if probe is not None:
        for target in {handshake.target for handshake in emulator.handshakes} | set(armed):
            async with probe.post(target, headers={"X-Hook-Secret": "late-probe-secret"}) as reply:
                assert reply.status == 403, f"a late handshake was accepted ({reply.status})"
                assert "X-Hook-Secret" not in reply.headers
