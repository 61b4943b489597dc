"""The Inbox contract, run against SQLiteInbox and RedisInbox alike."""

from __future__ import annotations

import anyio
import pytest

from asana_hooks.errors import StoreError
from asana_hooks.inbox import Inbox, InboxEntry

pytestmark = pytest.mark.anyio

BODY = b'{"events":[{"action":"changed"}]}'
LEASE = 60.0
WINDOW = 900.0


async def claim(inbox: Inbox, now: float = 1000.0, consumer: str = "w1") -> InboxEntry:
    entry = await inbox.claim(consumer, now, LEASE)
    assert entry is not None
    return entry


async def test_a_put_batch_is_claimed_with_its_contents(inbox: Inbox) -> None:
    """The claimed entry carries the token, exact body, fresh fingerprints and no attempts yet."""
    entry_id = await inbox.put("t1", BODY, ["f1", "f2"], 1000.0, WINDOW)
    entry = await claim(inbox)
    assert entry.entry_id == entry_id
    assert (entry.token, entry.body, entry.fingerprints) == ("t1", BODY, ("f1", "f2"))
    assert (entry.received_at, entry.attempts, entry.last_error) == (1000.0, 0, None)


async def test_a_leased_batch_is_not_claimed_twice_and_completion_forgets_it(inbox: Inbox) -> None:
    """While leased nobody else gets it; once complete the backlog is empty."""
    await inbox.put("t1", BODY, ["f1"], 1000.0, WINDOW)
    entry = await claim(inbox)
    assert await inbox.claim("w2", 1001.0, LEASE) is None
    assert await inbox.backlog() == 1
    await inbox.complete(entry)
    assert await inbox.backlog() == 0
    assert await inbox.claim("w2", 1002.0, LEASE) is None


async def test_a_duplicate_batch_within_the_window_stores_nothing(inbox: Inbox) -> None:
    """W19: the same events again inside the window: put returns None and nothing is queued."""
    assert await inbox.put("t1", BODY, ["f1", "f2"], 1000.0, WINDOW) is not None
    assert await inbox.put("t1", BODY, ["f2", "f1"], 1005.0, WINDOW) is None
    assert await inbox.backlog() == 1


async def test_only_the_new_events_of_an_overlapping_batch_are_stored(inbox: Inbox) -> None:
    """A batch sharing one event with an earlier one keeps just its new events."""
    await inbox.put("t1", BODY, ["f1"], 1000.0, WINDOW)
    await inbox.put("t1", BODY, ["f1", "f3", "f3"], 1001.0, WINDOW)
    first = await claim(inbox, 1002.0)
    second = await claim(inbox, 1002.0, "w2")
    assert {first.fingerprints, second.fingerprints} == {("f1",), ("f3",)}


async def test_the_same_events_on_another_path_or_after_the_window_are_new(inbox: Inbox) -> None:
    """Marks are per path token and expire with the window."""
    await inbox.put("t1", BODY, ["f1"], 1000.0, 10.0)
    assert await inbox.put("t2", BODY, ["f1"], 1001.0, 10.0) is not None
    assert await inbox.put("t1", BODY, ["f1"], 1010.0, 10.0) is not None
    assert await inbox.backlog() == 3


async def test_without_a_window_every_batch_is_stored(inbox: Inbox) -> None:
    """Dedupe off: a resend is a second entry."""
    await inbox.put("t1", BODY, ["f1"], 1000.0, None)
    await inbox.put("t1", BODY, ["f1"], 1000.0, None)
    assert await inbox.backlog() == 2


async def test_a_retried_batch_waits_until_it_is_due(inbox: Inbox) -> None:
    """After retry(not_before) the batch is invisible until then, and comes back counted."""
    entry_id = await inbox.put("t1", BODY, ["f1"], 1000.0, WINDOW)
    await inbox.retry(await claim(inbox), "RuntimeError: boom", 1100.0)
    assert await inbox.claim("w1", 1099.0, LEASE) is None
    assert await inbox.backlog() == 1
    again = await claim(inbox, 1100.0)
    assert (again.entry_id, again.attempts, again.last_error) == (entry_id, 1, "RuntimeError: boom")
    assert again.body == BODY
    await inbox.retry(again, "RuntimeError: again", 1200.0)
    assert (await claim(inbox, 1300.0)).attempts == 2


async def test_a_dead_letter_is_kept_for_inspection(inbox: Inbox) -> None:
    """dead_letter moves the batch out of the backlog into dead_letters, with the failure."""
    entry_id = await inbox.put("t1", BODY, ["f1", "f2"], 1000.0, WINDOW)
    entry = await claim(inbox)
    await inbox.dead_letter(entry, "ValueError: bad", 1050.0)
    assert await inbox.backlog() == 0
    [dead] = await inbox.dead_letters()
    assert (dead.entry_id, dead.token, dead.body, dead.fingerprints) == (entry_id, "t1", BODY, ("f1", "f2"))
    assert (dead.received_at, dead.attempts, dead.failed_at, dead.last_error) == (
        1000.0,
        1,
        1050.0,
        "ValueError: bad",
    )
    assert BODY.decode() not in repr(dead)


async def test_a_released_batch_is_taken_at_once_by_another_worker(inbox: Inbox) -> None:
    """release() (shutdown mid-handler) hands the batch back without waiting out the lease."""
    entry_id = await inbox.put("t1", BODY, ["f1"], 1000.0, WINDOW)
    await inbox.release(await claim(inbox))
    again = await claim(inbox, 1001.0, "w2")
    assert (again.entry_id, again.attempts) == (entry_id, 0)


async def test_batches_are_claimed_oldest_first(inbox: Inbox) -> None:
    """Three batches come out in the order they were put."""
    ids = [await inbox.put("t1", BODY, [f"f{i}"], 1000.0 + i, WINDOW) for i in range(3)]
    assert [(await claim(inbox, 1010.0)).entry_id for _ in range(3)] == ids


async def test_concurrent_workers_never_share_a_batch(inbox: Inbox) -> None:
    """Ten batches, four racing workers: each batch is claimed exactly once."""
    for i in range(10):
        await inbox.put("t1", BODY, [f"f{i}"], 1000.0, WINDOW)
    claimed: list[str] = []

    async def worker(name: str) -> None:
        while (entry := await inbox.claim(name, 1001.0, LEASE)) is not None:
            claimed.append(entry.entry_id)

    async with anyio.create_task_group() as group:
        for n in range(4):
            group.start_soon(worker, f"w{n}")
    assert len(claimed) == 10
    assert len(set(claimed)) == 10


async def test_a_closed_inbox_refuses_calls(inbox: Inbox) -> None:
    """After aclose every call raises StoreError; closing twice is fine."""
    await inbox.aclose()
    await inbox.aclose()
    with pytest.raises(StoreError, match="closed"):
        await inbox.put("t1", BODY, ["f1"], 1000.0, WINDOW)
