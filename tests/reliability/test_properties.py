"""Property-based tests of the sans-I/O core: only the documented typed errors, whatever the input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asana_hooks import MalformedPayload, SignatureInvalid
from asana_hooks.deliveries import Delivery, parse_delivery
from asana_hooks.handshake import (
    MAX_SECRET_LENGTH,
    CaptureOutcome,
    PendingCreate,
    SubscriptionRecord,
    decide_capture,
)
from asana_hooks.signing import sign, verify_signature
from tests.core.case_values import B_EV, B_HB, SIG_BASE64, SIG_EMPTY_KEY, SIG_EV, SIG_HB, SIG_STR_REPR, S

#: How many examples each property runs; the counts are quoted in docs/reliability.md.
EXAMPLES = 300
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)

events: st.SearchStrategy[Any] = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["changed", "added", "removed", "deleted", "undeleted", "odd"])
        | json_values,
        "resource": st.fixed_dictionaries(
            {"gid": st.text(min_size=1, max_size=16), "resource_type": st.text(max_size=10)}
        )
        | json_values,
    },
    optional={
        "user": st.none() | st.fixed_dictionaries({"gid": st.text(max_size=16)}),
        "parent": st.none() | json_values,
        "created_at": st.text(max_size=30) | st.none(),
        "change": st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    },
)

header_values = st.text(max_size=80) | st.binary(max_size=80) | st.integers() | st.none()
header_names = st.sampled_from(["X-Hook-Signature", "x-hook-signature", "X-HOOK-SIGNATURE"]) | st.text(
    max_size=20
)


# -- parse_delivery ---------------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\xef\xbb\xbf" + B_HB)
@example(b'{"events":[NaN]}')
@example(b'{"events":' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_arbitrary_bytes_parse_or_raise_malformed_payload_only(body: bytes) -> None:
    """parse_delivery on any bytes returns a Delivery or raises MalformedPayload, nothing else."""
    message: str | None = None
    try:
        delivery = parse_delivery(body)
    except MalformedPayload as exc:
        message = str(exc)
    else:
        assert isinstance(delivery, Delivery)
        assert delivery.body == body
    # The message is a short fixed text: it never grows by quoting the body. (Checking that short
    # bodies are absent from it would fail on words like "body" that hypothesis mines from code.)
    if message is not None:
        assert len(message) < 120


@PROPERTY
@given(json_values)
def test_arbitrary_json_parses_exactly_when_it_is_an_object_with_an_events_list(value: Any) -> None:
    """Any JSON document: accepted iff an object whose "events" is a list, else MalformedPayload."""
    body = json.dumps(value).encode()
    wanted = isinstance(value, dict) and isinstance(value.get("events"), list)
    try:
        parse_delivery(body)
    except MalformedPayload:
        accepted = False
    else:
        accepted = True
    assert accepted == wanted


@settings(PROPERTY, max_examples=EXAMPLES // 3)
@given(
    st.lists(events | json_values, max_size=5), st.dictionaries(st.text(max_size=8), json_values, max_size=3)
)
def test_every_item_of_an_events_list_is_kept_parsed_or_unparsed(
    items: list[Any], extra: dict[str, Any]
) -> None:
    """One odd event never sinks a batch: len(events) + len(unparsed) == len(items), heartbeat iff empty."""
    body = json.dumps({**extra, "events": items}).encode()
    delivery = parse_delivery(body)
    assert len(delivery.events) + len(delivery.unparsed) == len(items)
    assert delivery.is_heartbeat == (not items)
    for event in delivery.events:
        assert event.raw in items


# -- verify_signature -------------------------------------------------------------------------------


@PROPERTY
@given(
    st.none() | st.text(max_size=40),
    st.binary(max_size=200),
    st.dictionaries(header_names, header_values, max_size=4)
    | st.lists(st.tuples(header_names, header_values), max_size=4),
)
@example(S, B_HB, {"X-Hook-Signature": SIG_STR_REPR})
@example(S, B_HB, {"X-Hook-Signature": SIG_BASE64})
@example(S, B_HB, {"X-Hook-Signature": SIG_EMPTY_KEY})
@example("", B_HB, {"X-Hook-Signature": SIG_EMPTY_KEY})
@example(S, B_HB, [("X-Hook-Signature", SIG_HB), ("x-hook-signature", SIG_HB)])
@example(S, B_HB, {"X-Hook-Signature": "é" * 64})
@example(S, B_HB, {"X-Hook-Signature": b"\xff" * 64})
@example("\ud800", B_HB, {"X-Hook-Signature": SIG_HB})
def test_arbitrary_secrets_bodies_and_headers_verify_or_raise_signature_invalid_only(
    secret: str | None, body: bytes, headers: Any
) -> None:
    """verify_signature on anything returns or raises SignatureInvalid, and its message leaks nothing."""
    try:
        verify_signature(secret, body, headers)
    except SignatureInvalid as exc:
        message = str(exc)
        if secret and len(secret) >= 8:
            assert secret not in message
        return
    # Only a genuine signature gets through.
    assert secret
    values = list(headers.values()) if isinstance(headers, dict) else [value for _, value in headers]
    assert sign(secret, body) in values


@PROPERTY
@given(
    st.text(min_size=1, max_size=64).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    st.binary(max_size=500),
)
@example(S, B_HB)
@example(S, B_EV)
def test_a_correctly_signed_body_always_verifies(secret: str, body: bytes) -> None:
    """sign() then verify_signature() with the same secret and bytes never raises."""
    verify_signature(secret, body, {"X-Hook-Signature": sign(secret, body)})


@PROPERTY
@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_single_byte_change_in_the_body_fails(body: bytes, data: st.DataObject) -> None:
    """Flip, replace, insert or delete one byte of a signed body: SignatureInvalid."""
    signature = sign(S, body)
    index = data.draw(st.integers(0, len(body) - 1))
    operation = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if operation == "replace":
        new = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
        changed = body[:index] + bytes([new]) + body[index + 1 :]
    elif operation == "insert":
        changed = body[:index] + bytes([data.draw(st.integers(0, 255))]) + body[index:]
    else:
        changed = body[:index] + body[index + 1 :]
    try:
        verify_signature(S, changed, {"X-Hook-Signature": signature})
    except SignatureInvalid:
        return
    raise AssertionError("a changed body verified")


@PROPERTY
@given(st.integers(0, 63), st.sampled_from("0123456789abcdef"))
@example(63, "3")
def test_any_single_character_change_in_the_signature_fails(index: int, char: str) -> None:
    """Change one hex digit of the genuine B_EV signature: SignatureInvalid (unless it is the same digit)."""
    changed = SIG_EV[:index] + char + SIG_EV[index + 1 :]
    try:
        verify_signature(S, B_EV, {"X-Hook-Signature": changed})
    except SignatureInvalid:
        assert changed != SIG_EV
        return
    assert changed == SIG_EV


@PROPERTY
@given(st.text(min_size=1, max_size=40).filter(lambda s: s != S and s.isascii()))
def test_a_signature_under_another_secret_fails(other: str) -> None:
    """B_EV signed with any other secret does not verify under S."""
    try:
        verify_signature(S, B_EV, {"X-Hook-Signature": sign(other, B_EV)})
    except SignatureInvalid:
        return
    raise AssertionError("a signature under another secret verified")


# -- decide_capture ---------------------------------------------------------------------------------

secrets_ = st.text(max_size=40) | st.sampled_from(
    [S, "a" * MAX_SECRET_LENGTH, "a" * (MAX_SECRET_LENGTH + 1), ""]
)
pendings = st.none() | st.builds(
    PendingCreate,
    token=st.just("t1"),
    resource_gid=st.just("1"),
    target=st.just("https://x/h/t1"),
    expires_at=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
records = st.none() | st.builds(
    SubscriptionRecord,
    token=st.just("t1"),
    secret=secrets_,
    resource_gid=st.just("1"),
    target=st.just("https://x/h/t1"),
    webhook_gid=st.none() | st.just("1400000000000004"),
    created_at=st.just(0.0),
)


@PROPERTY
@given(
    pendings,
    records,
    secrets_,
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
def test_decide_capture_accepts_only_a_first_handshake_for_a_live_pending_create(
    pending: PendingCreate | None, existing: SubscriptionRecord | None, secret: str, now: float
) -> None:
    """Any inputs: an outcome, never an exception; ACCEPTED/REPEATED only within the documented rule."""
    outcome = decide_capture(pending, existing, secret, now)
    assert isinstance(outcome, CaptureOutcome)
    usable = 0 < len(secret) <= MAX_SECRET_LENGTH and all(0x21 <= ord(c) <= 0x7E for c in secret)
    live = pending is not None and now < pending.expires_at
    if outcome is CaptureOutcome.ACCEPTED:
        assert usable
        assert live
        assert existing is None
    elif outcome is CaptureOutcome.REPEATED:
        assert usable
        assert live
        assert existing is not None
        assert existing.webhook_gid is None
        assert existing.secret == secret
    else:
        repeat = existing is not None and existing.webhook_gid is None and existing.secret == secret
        assert not (usable and live and (existing is None or repeat))
