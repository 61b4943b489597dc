"""Delivery parsing: heartbeats, the B_EV batch, odd events kept, malformed bodies refused."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from asana_hooks.deliveries import Delivery, check_body_size, event_fingerprint, parse_delivery
from asana_hooks.errors import MalformedPayload, PayloadTooLarge
from tests.core.case_values import B_EV, B_HB

GOOD_EVENT: dict[str, Any] = {
    "action": "added",
    "resource": {"gid": "1300000000000003", "resource_type": "task"},
    "parent": {"gid": "1200000000000002", "resource_type": "project"},
    "user": {"gid": "1500000000000005", "resource_type": "user"},
    "created_at": "2024-03-05T10:15:00.000Z",
}


def body_of(*events: Any) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def test_an_empty_events_list_is_a_heartbeat() -> None:
    """B_HB parses to a heartbeat with the body kept."""
    delivery = parse_delivery(B_HB)
    assert delivery.is_heartbeat
    assert delivery.events == []
    assert delivery.unparsed == []
    assert delivery.body == B_HB


def test_the_b_ev_batch_parses_into_one_typed_event() -> None:
    """B_EV gives one changed-name event on task 4000000000000002 by user 4000000000000001."""
    delivery = parse_delivery(B_EV)
    assert not delivery.is_heartbeat
    assert delivery.unparsed == []
    [event] = delivery.events
    assert event.action == "changed"
    assert event.resource.gid == "4000000000000002"
    assert event.resource.resource_subtype == "default_task"
    assert event.user is not None
    assert event.user.gid == "4000000000000001"
    assert event.parent is None
    assert event.change is not None
    assert event.change.field == "name"
    assert event.raw == json.loads(B_EV)["events"][0]


def test_the_body_is_not_shown_in_the_repr() -> None:
    """repr(Delivery) leaves the raw body out."""
    assert "4000000000000002" not in repr(Delivery(body=B_EV))


def test_an_unknown_action_and_null_user_and_parent_still_parse() -> None:
    """Open-ended strings and nulls Asana may send do not make an event unparsed."""
    odd = dict(GOOD_EVENT, action="restored", user=None, parent=None)
    delivery = parse_delivery(body_of(odd))
    [event] = delivery.events
    assert event.action == "restored"
    assert event.user is None
    assert event.parent is None


def test_extra_keys_are_kept_in_raw() -> None:
    """Unknown keys survive in event.raw exactly."""
    extra = dict(GOOD_EVENT, brand_new={"nested": [1, 2]})
    [event] = parse_delivery(body_of(extra)).events
    assert event.raw["brand_new"] == {"nested": [1, 2]}


def test_one_odd_event_does_not_sink_the_batch() -> None:
    """Events missing required keys, and non-object items, go to unparsed; the good ones parse."""
    missing_resource = {"action": "changed"}
    missing_action = {"resource": {"gid": "1"}}
    delivery = parse_delivery(body_of(GOOD_EVENT, missing_resource, 7, "text", None, missing_action))
    assert [e.resource.gid for e in delivery.events] == ["1300000000000003"]
    assert delivery.unparsed == [missing_resource, 7, "text", None, missing_action]
    assert not delivery.is_heartbeat


def test_a_batch_of_only_unparsed_items_is_not_a_heartbeat() -> None:
    """Something Asana sent that we cannot type is still something, not a heartbeat."""
    assert not parse_delivery(body_of({"weird": True})).is_heartbeat


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{", id="bad-utf8"),
        pytest.param(b'{"events":[', id="truncated"),
        pytest.param(b"[]", id="top-level-list"),
        pytest.param(b'"events"', id="top-level-string"),
        pytest.param(b"{}", id="no-events"),
        pytest.param(b'{"events":{}}', id="events-object"),
        pytest.param(b'{"events":null}', id="events-null"),
        pytest.param(b'{"events":[NaN]}', id="nan"),
        pytest.param(b'{"events":[Infinity]}', id="infinity"),
        pytest.param(b"\xef\xbb\xbf" + B_HB, id="utf8-bom"),
        pytest.param(B_HB.decode().encode("utf-16"), id="utf16"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
        pytest.param(b'{"events":[' + b"9" * 5000 + b"]}", id="huge-int"),
    ],
)
def test_malformed_bodies_raise_malformed_payload(body: bytes) -> None:
    """Anything but a UTF-8 JSON object with an events list raises MalformedPayload only."""
    with pytest.raises(MalformedPayload):
        parse_delivery(body)


def test_check_body_size_allows_the_limit_and_unknown_lengths() -> None:
    """A body exactly at the limit, or of undeclared length, passes the declared-size check."""
    check_body_size(100, 100)
    check_body_size(None, 100)
    check_body_size(0, 100)


def test_check_body_size_refuses_above_the_limit() -> None:
    """One byte above the limit raises PayloadTooLarge."""
    with pytest.raises(PayloadTooLarge):
        check_body_size(101, 100)


def test_fingerprints_ignore_key_order_and_whitespace() -> None:
    """The same event spelled differently in the body gets the same fingerprint."""
    reordered = json.loads(json.dumps(GOOD_EVENT, sort_keys=True, indent=3))
    assert list(reordered) != list(GOOD_EVENT)
    assert event_fingerprint(reordered) == event_fingerprint(GOOD_EVENT)


def test_fingerprints_differ_for_different_events() -> None:
    """Changing any value changes the fingerprint."""
    other = dict(GOOD_EVENT, created_at="2024-03-05T10:15:00.001Z")
    assert event_fingerprint(other) != event_fingerprint(GOOD_EVENT)


def test_fingerprint_is_sha256_of_canonical_json() -> None:
    """The fingerprint is a 64-character hex digest, stable across runs."""
    expected = hashlib.sha256(b'{"a":"\\u00e9","b":1}').hexdigest()
    assert event_fingerprint({"b": 1, "a": "é"}) == expected


def test_fingerprint_handles_lone_surrogates() -> None:
    """A string JSON allowed but UTF-8 cannot encode still fingerprints."""
    [item] = parse_delivery(b'{"events":["\\ud800"]}').unparsed
    assert len(event_fingerprint(item)) == 64
