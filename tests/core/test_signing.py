"""Signature verification: W05, W07 and W08 of the webhook cases, plus the header-shape rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from asana_hooks.errors import SignatureInvalid
from asana_hooks.signing import sign, verify_signature
from tests.core.case_values import (
    B_EV,
    B_HB,
    S2,
    SIG_BASE64,
    SIG_EMPTY_KEY,
    SIG_EV,
    SIG_HB,
    SIG_STR_REPR,
    S,
)


def test_sign_gives_the_documented_heartbeat_signature() -> None:
    """sign(S, B_HB) is the lowercase hex digest from the cases file."""
    assert sign(S, B_HB) == SIG_HB


def test_sign_gives_the_documented_event_signature() -> None:
    """sign(S, B_EV) over the 284 exact bytes is the digest from the cases file."""
    assert len(B_EV) == 284
    assert sign(S, B_EV) == SIG_EV


def test_sign_with_an_empty_key_is_the_w08_value() -> None:
    """An empty key gives the W08 digest, so that value is a meaningful forgery in tests."""
    assert sign("", B_HB) == SIG_EMPTY_KEY


@pytest.mark.parametrize(("body", "signature"), [(B_HB, SIG_HB), (B_EV, SIG_EV)])
def test_the_right_signature_over_the_raw_bytes_verifies(body: bytes, signature: str) -> None:
    """W05: the genuine signature over the exact body bytes passes."""
    verify_signature(S, body, {"X-Hook-Signature": signature})


def test_a_signature_over_the_str_repr_of_the_body_is_refused() -> None:
    """W05: HMAC over str(b'...') is not the signature of the body."""
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(S, B_HB, {"X-Hook-Signature": SIG_STR_REPR})


def test_the_right_signature_under_another_secret_is_refused() -> None:
    """A delivery signed by someone holding S2 does not verify against S."""
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(S, B_HB, {"X-Hook-Signature": sign(S2, B_HB)})


def test_a_signature_of_other_bytes_is_refused() -> None:
    """The heartbeat's signature does not vouch for the event body."""
    with pytest.raises(SignatureInvalid):
        verify_signature(S, B_EV, {"X-Hook-Signature": SIG_HB})


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc", id="a-short"),
        pytest.param(SIG_BASE64, id="b-base64"),
        pytest.param(SIG_HB + " ", id="c-trailing-space"),
        pytest.param(" " + SIG_HB, id="leading-space"),
        pytest.param(SIG_HB[:-1] + "é", id="d-non-ascii"),
        pytest.param("é" * 64, id="non-ascii-64"),
        pytest.param("", id="empty"),
        pytest.param(SIG_HB + "0", id="65-chars"),
        pytest.param("g" * 64, id="not-hex"),
        pytest.param("sha256=" + SIG_HB, id="prefixed"),
        pytest.param(SIG_HB.encode("utf-16-le").decode("latin-1"), id="utf16-mojibake"),
    ],
)
def test_malformed_signatures_are_refused_with_signature_invalid_only(value: str) -> None:
    """W07 (a)-(d): every malformed value raises SignatureInvalid, never TypeError or UnicodeError."""
    with pytest.raises(SignatureInvalid):
        verify_signature(S, B_HB, {"X-Hook-Signature": value})


def test_uppercase_hex_is_refused_deterministically() -> None:
    """Only lowercase hex (what Asana sends) is well formed; the uppercase digest is refused."""
    with pytest.raises(SignatureInvalid, match="lowercase hex"):
        verify_signature(S, B_HB, {"X-Hook-Signature": SIG_HB.upper()})


def test_a_missing_header_is_refused() -> None:
    """W07 (e): no X-Hook-Signature at all."""
    with pytest.raises(SignatureInvalid, match="missing"):
        verify_signature(S, B_HB, {"Content-Type": "application/json"})


def test_a_header_present_twice_in_a_multidict_is_refused() -> None:
    """W07 (f): two X-Hook-Signature headers, even both right, are refused."""
    headers = CIMultiDict([("X-Hook-Signature", SIG_HB), ("x-hook-signature", SIG_HB)])
    with pytest.raises(SignatureInvalid, match="more than once"):
        verify_signature(S, B_HB, CIMultiDictProxy(headers))


def test_a_header_present_twice_in_pairs_is_refused() -> None:
    """W07 (f) with raw (name, value) pairs as ASGI frameworks give them."""
    pairs = [(b"x-hook-signature", SIG_HB.encode()), (b"X-Hook-Signature", SIG_HB.encode())]
    with pytest.raises(SignatureInvalid, match="more than once"):
        verify_signature(S, B_HB, pairs)


def test_a_plain_dict_with_two_spellings_counts_as_twice() -> None:
    """Names are matched case-insensitively in plain dicts too, so two spellings are two headers."""
    with pytest.raises(SignatureInvalid, match="more than once"):
        verify_signature(S, B_HB, {"X-Hook-Signature": SIG_HB, "x-hook-signature": SIG_HB})


@pytest.mark.parametrize("name", ["x-hook-signature", "X-HOOK-SIGNATURE", "X-Hook-Signature"])
def test_header_names_are_case_insensitive_in_plain_dicts(name: str) -> None:
    """Any spelling of the header name is found in a plain dict."""
    verify_signature(S, B_HB, {name: SIG_HB})


def test_byte_pairs_with_the_right_signature_verify() -> None:
    """(name, value) byte pairs are read as ASCII."""
    verify_signature(
        S, B_HB, [(b"content-type", b"application/json"), (b"x-hook-signature", SIG_HB.encode())]
    )


def test_a_non_ascii_byte_value_is_refused() -> None:
    """A header value with a non-ASCII byte is refused, not decoded loosely."""
    with pytest.raises(SignatureInvalid, match="not ASCII"):
        verify_signature(S, B_HB, [(b"x-hook-signature", SIG_HB[:-1].encode() + b"\xe9")])


def test_a_non_text_value_is_refused() -> None:
    """A value that is neither str nor bytes is refused."""
    headers: Mapping[str, Any] = {"X-Hook-Signature": 12345}
    with pytest.raises(SignatureInvalid, match="not text"):
        verify_signature(S, B_HB, headers)


def test_headers_that_cannot_be_read_are_refused() -> None:
    """Headers in an unreadable shape raise SignatureInvalid, not TypeError."""
    with pytest.raises(SignatureInvalid, match="could not be read"):
        verify_signature(S, B_HB, [("only-a-name",)])  # type: ignore[list-item]


def test_non_str_header_names_are_skipped() -> None:
    """A pair whose name is not text is not mistaken for the signature header."""
    with pytest.raises(SignatureInvalid, match="missing"):
        verify_signature(S, B_HB, [(42, SIG_HB)])


@pytest.mark.parametrize("secret", [None, ""])
def test_no_secret_refuses_even_the_empty_key_signature(secret: str | None) -> None:
    """W08: a missing or empty secret fails closed, even for the HMAC under an empty key."""
    with pytest.raises(SignatureInvalid, match="no secret"):
        verify_signature(secret, B_HB, {"X-Hook-Signature": SIG_EMPTY_KEY})


def test_a_str_body_is_refused_not_a_type_error() -> None:
    """A decoded str body cannot be verified: SignatureInvalid, not TypeError."""
    with pytest.raises(SignatureInvalid, match="raw bytes"):
        verify_signature(S, B_HB.decode(), {"X-Hook-Signature": SIG_HB})  # type: ignore[arg-type]


def test_bytearray_and_memoryview_bodies_verify() -> None:
    """Any bytes-like body with the right bytes verifies."""
    verify_signature(S, bytearray(B_HB), {"X-Hook-Signature": SIG_HB})
    verify_signature(S, memoryview(B_HB), {"X-Hook-Signature": SIG_HB})


def test_a_secret_that_cannot_be_encoded_is_refused() -> None:
    """A secret with a lone surrogate raises SignatureInvalid, not UnicodeEncodeError."""
    with pytest.raises(SignatureInvalid, match="cannot be used"):
        verify_signature("\ud800", B_HB, {"X-Hook-Signature": SIG_HB})


def test_messages_never_contain_the_secret_or_the_signature() -> None:
    """Every refusal message is free of the secret and of the presented signature."""
    attempts: list[tuple[str | None, dict[str, str]]] = [
        (S, {"X-Hook-Signature": SIG_STR_REPR}),
        (S, {"X-Hook-Signature": SIG_BASE64}),
        (S, {}),
        ("", {"X-Hook-Signature": SIG_HB}),
    ]
    for secret, headers in attempts:
        with pytest.raises(SignatureInvalid) as caught:
            verify_signature(secret, B_HB, headers)
        text = str(caught.value)
        assert S not in text
        assert SIG_STR_REPR not in text
        assert SIG_BASE64 not in text
        assert SIG_HB not in text
