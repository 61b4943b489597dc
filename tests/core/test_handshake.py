"""The capture rule (decide_capture) and the handshake value objects."""

from __future__ import annotations

import dataclasses

import pytest

from asana_hooks.handshake import (
    CaptureOutcome,
    PendingCreate,
    SubscriptionRecord,
    decide_capture,
    is_acceptable_secret,
    new_path_token,
    record_from_capture,
)
from tests.core.case_values import PROJECT_GID, S2, WEBHOOK_GID, S

TARGET = "https://hooks.example.test/asana/h/t1"
PENDING = PendingCreate(token="t1", resource_gid=PROJECT_GID, target=TARGET, expires_at=100.0)
CAPTURED = record_from_capture(PENDING, S, 10.0)
ESTABLISHED = dataclasses.replace(CAPTURED, webhook_gid=WEBHOOK_GID)

ACCEPTED, REPEATED, REFUSED = CaptureOutcome.ACCEPTED, CaptureOutcome.REPEATED, CaptureOutcome.REFUSED


@pytest.mark.parametrize(
    ("pending", "existing", "secret", "now", "outcome"),
    [
        pytest.param(PENDING, None, S, 50.0, ACCEPTED, id="first-handshake-while-pending"),
        pytest.param(PENDING, CAPTURED, S, 50.0, REPEATED, id="same-secret-again-while-pending"),
        pytest.param(PENDING, CAPTURED, S2, 50.0, REFUSED, id="other-secret-after-capture"),
        pytest.param(None, None, S, 50.0, REFUSED, id="nothing-pending"),
        pytest.param(None, ESTABLISHED, S2, 50.0, REFUSED, id="w03-takeover-of-established"),
        pytest.param(None, ESTABLISHED, S, 50.0, REFUSED, id="replay-of-established"),
        pytest.param(PENDING, ESTABLISHED, S, 50.0, REFUSED, id="established-even-if-pending"),
        pytest.param(PENDING, None, S, 100.0, REFUSED, id="expired-at-deadline"),
        pytest.param(PENDING, None, S, 150.0, REFUSED, id="expired-after-deadline"),
        pytest.param(PENDING, CAPTURED, S, 100.0, REFUSED, id="repeat-after-expiry"),
        pytest.param(PENDING, None, "", 50.0, REFUSED, id="empty-secret"),
        pytest.param(PENDING, None, "a b", 50.0, REFUSED, id="secret-with-space"),
        pytest.param(PENDING, None, "é" * 8, 50.0, REFUSED, id="non-ascii-secret"),
        pytest.param(PENDING, None, "x" * 513, 50.0, REFUSED, id="overlong-secret"),
        pytest.param(PENDING, None, "x" * 512, 50.0, ACCEPTED, id="longest-secret"),
    ],
)
def test_decide_capture_table(
    pending: PendingCreate | None,
    existing: SubscriptionRecord | None,
    secret: str,
    now: float,
    outcome: CaptureOutcome,
) -> None:
    """The handshake is accepted only once, while pending and unexpired, with a usable secret."""
    assert decide_capture(pending, existing, secret, now) is outcome


def test_record_from_capture_carries_the_pending_create_and_no_webhook_yet() -> None:
    """The captured record copies the create's facts, is created now and has no webhook gid."""
    pending = PendingCreate(
        token="t2",
        resource_gid=PROJECT_GID,
        target=TARGET,
        filters=({"resource_type": "task", "action": "changed"},),
        expires_at=60.0,
    )
    record = record_from_capture(pending, S, 12.5)
    assert record == SubscriptionRecord(
        token="t2",
        secret=S,
        resource_gid=PROJECT_GID,
        target=TARGET,
        filters=({"resource_type": "task", "action": "changed"},),
        webhook_gid=None,
        created_at=12.5,
        last_seen_at=None,
    )


def test_the_record_repr_never_shows_the_secret() -> None:
    """repr(SubscriptionRecord) omits the secret and the path token, and still names the resource."""
    assert S not in repr(CAPTURED)
    assert "secret" not in repr(CAPTURED)
    assert "t1" not in repr(CAPTURED)
    assert PROJECT_GID in repr(CAPTURED)


def test_filters_given_as_a_list_are_stored_as_a_tuple_of_copies() -> None:
    """Filters are frozen into a tuple, and later changes to the caller's dicts do not leak in."""
    given = [{"resource_type": "task"}]
    pending = PendingCreate(
        token="t3", resource_gid=PROJECT_GID, target=TARGET, filters=given, expires_at=1.0
    )
    given[0]["action"] = "added"
    assert pending.filters == ({"resource_type": "task"},)


def test_path_tokens_are_long_urlsafe_and_distinct() -> None:
    """new_path_token gives 32 URL-safe characters (192 bits) and never repeats in practice."""
    tokens = {new_path_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert len(token) == 32
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(("secret", "ok"), [(S, True), ("", False), ("a\tb", False), ("~!", True)])
def test_acceptable_secrets_are_visible_ascii(secret: str, ok: bool) -> None:
    """Only 1..512 visible ASCII characters can be echoed byte for byte, so only those are taken."""
    assert is_acceptable_secret(secret) is ok
