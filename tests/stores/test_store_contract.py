"""The SecretStore contract, run against every store (MemoryStore and SQLiteStore)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from asana_hooks.errors import InvalidRequestError, StoreError
from asana_hooks.handshake import CaptureOutcome, PendingCreate, SecretStore, SubscriptionRecord
from asana_hooks.stores import MemoryStore, SQLiteStore
from tests.core.case_values import PROJECT_GID, S2, WEBHOOK_GID, WEBHOOK_GID_2, S

pytestmark = pytest.mark.anyio

TARGET = "https://hooks.example.test/asana/h/t1"
FILTERS = ({"resource_type": "task", "action": "changed", "fields": ["name"]},)


def pending(path_name: str = "t1", expires_at: float = 100.0) -> PendingCreate:
    return PendingCreate(
        token=path_name,
        resource_gid=PROJECT_GID,
        target=f"https://hooks.example.test/asana/h/{path_name}",
        filters=FILTERS,
        expires_at=expires_at,
    )


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SecretStore]:
    """Each contract test runs once per store implementation."""
    chosen: SecretStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "s.db")
    async with chosen:
        yield chosen


async def test_a_pending_create_accepts_its_first_handshake(store: SecretStore) -> None:
    """ACCEPTED stores a record with the secret, the create's facts, no webhook gid, created now."""
    await store.add_pending(pending())
    assert await store.capture_handshake("t1", S, 10.0) is CaptureOutcome.ACCEPTED
    assert await store.get("t1") == SubscriptionRecord(
        token="t1",
        secret=S,
        resource_gid=PROJECT_GID,
        target=TARGET,
        filters=FILTERS,
        webhook_gid=None,
        created_at=10.0,
        last_seen_at=None,
    )


async def test_the_same_secret_again_while_pending_is_repeated(store: SecretStore) -> None:
    """A repeat of the handshake with the same value is answered idempotently."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    assert await store.capture_handshake("t1", S, 11.0) is CaptureOutcome.REPEATED
    record = await store.get("t1")
    assert record is not None
    assert record.created_at == 10.0


async def test_a_different_secret_after_capture_is_refused_and_changes_nothing(store: SecretStore) -> None:
    """W03 during the window: a second, different secret does not replace the first."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    assert await store.capture_handshake("t1", S2, 11.0) is CaptureOutcome.REFUSED
    record = await store.get("t1")
    assert record is not None
    assert record.secret == S


async def test_a_handshake_without_a_pending_create_is_refused(store: SecretStore) -> None:
    """No create in flight: REFUSED and nothing stored."""
    assert await store.capture_handshake("t1", S, 10.0) is CaptureOutcome.REFUSED
    assert await store.get("t1") is None
    assert await store.list_records() == []


async def test_an_expired_pending_create_is_refused(store: SecretStore) -> None:
    """At or after expires_at the handshake is refused."""
    await store.add_pending(pending(expires_at=100.0))
    assert await store.capture_handshake("t1", S, 100.0) is CaptureOutcome.REFUSED
    assert await store.get("t1") is None


async def test_expired_pending_creates_are_purged_by_a_later_capture(store: SecretStore) -> None:
    """An expired pending entry stops blocking its token once any capture ran past its expiry."""
    await store.add_pending(pending("t1", expires_at=5.0))
    await store.capture_handshake("other", S, 10.0)
    await store.add_pending(pending("t1", expires_at=50.0))
    assert await store.capture_handshake("t1", S, 20.0) is CaptureOutcome.ACCEPTED


async def test_an_established_webhook_refuses_a_takeover(store: SecretStore) -> None:
    """W03: after attach and clear, a handshake with S2 is refused and S stays."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    await store.attach_webhook("t1", WEBHOOK_GID)
    await store.clear_pending("t1")
    assert await store.capture_handshake("t1", S2, 20.0) is CaptureOutcome.REFUSED
    assert await store.capture_handshake("t1", S, 20.0) is CaptureOutcome.REFUSED
    record = await store.get("t1")
    assert record is not None
    assert record.secret == S


async def test_an_attached_webhook_refuses_even_while_still_pending(store: SecretStore) -> None:
    """Once the webhook gid is known the handshake window is over, pending entry or not."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    await store.attach_webhook("t1", WEBHOOK_GID)
    assert await store.capture_handshake("t1", S, 11.0) is CaptureOutcome.REFUSED


async def test_clear_pending_keeps_the_captured_record(store: SecretStore) -> None:
    """Clearing the pending create leaves the record; a later handshake is refused."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    await store.clear_pending("t1")
    assert await store.get("t1") is not None
    assert await store.capture_handshake("t1", S, 11.0) is CaptureOutcome.REFUSED


async def test_clear_pending_before_the_handshake_refuses_it(store: SecretStore) -> None:
    """W11: a cleared create refuses a late handshake."""
    await store.add_pending(pending())
    await store.clear_pending("t1")
    await store.clear_pending("t1")
    assert await store.capture_handshake("t1", S, 10.0) is CaptureOutcome.REFUSED


async def test_a_token_in_use_cannot_be_armed_again(store: SecretStore) -> None:
    """add_pending refuses a token already pending or already holding a record."""
    await store.add_pending(pending())
    with pytest.raises(InvalidRequestError):
        await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    await store.clear_pending("t1")
    with pytest.raises(InvalidRequestError):
        await store.add_pending(pending())


async def test_attach_and_find_by_webhook(store: SecretStore) -> None:
    """attach_webhook sets the gid; find_by_webhook finds exactly that record."""
    for token in ("t1", "t2"):
        await store.add_pending(pending(token))
        await store.capture_handshake(token, S, 10.0)
    await store.attach_webhook("t1", WEBHOOK_GID)
    await store.attach_webhook("t2", WEBHOOK_GID_2)
    found = await store.find_by_webhook(WEBHOOK_GID_2)
    assert found is not None
    assert found.token == "t2"
    assert found.webhook_gid == WEBHOOK_GID_2
    assert await store.find_by_webhook("1400000000000099") is None


async def test_attach_without_a_record_is_a_store_error(store: SecretStore) -> None:
    """Attaching a webhook to a token that never captured a secret is refused."""
    with pytest.raises(StoreError):
        await store.attach_webhook("nope", WEBHOOK_GID)


async def test_touch_sets_last_seen_and_ignores_unknown_tokens(store: SecretStore) -> None:
    """touch records the time of the last verified delivery; unknown tokens are a no-op."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    await store.touch("t1", 42.5)
    await store.touch("unknown", 43.0)
    record = await store.get("t1")
    assert record is not None
    assert record.last_seen_at == 42.5
    assert await store.get("unknown") is None


async def test_delete_forgets_record_and_pending(store: SecretStore) -> None:
    """delete removes both, so the token can be armed again; deleting nothing is fine."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    await store.delete("t1")
    await store.delete("t1")
    assert await store.get("t1") is None
    assert await store.capture_handshake("t1", S, 11.0) is CaptureOutcome.REFUSED
    await store.add_pending(pending())


async def test_list_records_is_oldest_first(store: SecretStore) -> None:
    """list_records returns every record ordered by creation time."""
    for token, at in (("t2", 30.0), ("t1", 10.0), ("t3", 20.0)):
        await store.add_pending(pending(token))
        await store.capture_handshake(token, S, at)
    assert [r.token for r in await store.list_records()] == ["t1", "t3", "t2"]


async def test_concurrent_handshakes_for_one_token_accept_exactly_one(store: SecretStore) -> None:
    """Of 20 racing handshakes with different secrets for one token, exactly one is accepted."""
    await store.add_pending(pending())
    outcomes: dict[str, CaptureOutcome] = {}

    async def attempt(secret: str) -> None:
        outcomes[secret] = await store.capture_handshake("t1", secret, 10.0)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(attempt, f"secret-{i:02d}")
    accepted = [secret for secret, outcome in outcomes.items() if outcome is CaptureOutcome.ACCEPTED]
    assert len(accepted) == 1
    assert list(outcomes.values()).count(CaptureOutcome.REFUSED) == 19
    record = await store.get("t1")
    assert record is not None
    assert record.secret == accepted[0]


async def test_a_closed_store_refuses_calls(store: SecretStore) -> None:
    """After aclose every call raises StoreError; closing twice is fine."""
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.get("t1")


async def test_records_are_immutable_snapshots(store: SecretStore) -> None:
    """A record handed out does not change when the store changes later."""
    await store.add_pending(pending())
    await store.capture_handshake("t1", S, 10.0)
    before = await store.get("t1")
    await store.touch("t1", 99.0)
    assert before is not None
    assert before.last_seen_at is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.secret = S2  # type: ignore[misc]


async def test_the_memory_store_repr_counts_without_showing_secrets() -> None:
    """MemoryStore's repr gives counts only."""
    async with MemoryStore() as store:
        await store.add_pending(pending())
        await store.capture_handshake("t1", S, 10.0)
        assert repr(store) == "MemoryStore(records=1, pending=1)"
        assert S not in repr(store)
