"""Hostile input against a running Receiver: nothing crashes it, dispatches unverified, changes a
stored secret or earns a 5xx."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import pytest

from asana_hooks import ReceiverConfig
from asana_hooks.signing import sign
from tests.core.case_values import B_EV, B_HB, S2, SIG_EV, SIG_HB, WEBHOOK_GID, S
from tests.receiver.harness import Harness, running

pytestmark = pytest.mark.anyio

#: Small, so oversize cases stay cheap; large enough for every legitimate body here.
LIMIT = 64 * 1024


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    """A receiver with ``t1`` established under secret S and a recording handler."""
    async with running(config=ReceiverConfig(max_body_size=LIMIT)) as harness:
        await harness.establish("t1", S)
        yield harness


async def raw(h: Harness, request: bytes) -> int | None:
    """Send raw bytes to the receiver; the status of the answer, or None when it only hung up."""
    port = int(h.receiver.base_url.rsplit(":", 1)[1])
    data = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        with anyio.move_on_after(5):
            while b"\r\n" not in data:
                try:
                    data += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                    break
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def request(
    path: bytes = b"/asana/h/t1",
    *,
    method: bytes = b"POST",
    headers: tuple[bytes, ...] = (),
    body: bytes = b"",
    length: bool = True,
) -> bytes:
    """One HTTP/1.1 request, byte for byte."""
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    if length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def assert_unharmed(h: Harness) -> None:
    """Nothing was dispatched, the secret is still S, and genuine Asana traffic still works."""
    assert h.calls == [], "a hostile request reached the handler"
    record = await h.store.get("t1")
    assert record is not None
    assert record.secret == S
    assert record.webhook_gid == WEBHOOK_GID
    assert (await h.deliver("t1", B_HB, SIG_HB)).status == 200
    assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
    assert len(h.calls) == 1


# -- spoofed handshakes -----------------------------------------------------------------------------


async def test_a_handshake_with_no_create_pending_is_refused(h: Harness) -> None:
    """X-Hook-Secret for a token nobody armed: 403, no echo, nothing stored."""
    reply = await h.post("t9", headers=[("X-Hook-Secret", S2)])
    assert reply.status == 403
    assert "X-Hook-Secret" not in reply.headers
    assert await h.store.get("t9") is None
    await assert_unharmed(h)


async def test_a_handshake_on_another_tokens_pending_create_is_refused(h: Harness) -> None:
    """t2 is armed; a handshake on t3, or on t2 smuggled through a traversal path, takes nothing."""
    await h.arm("t2")
    assert (await h.post("t3", headers=[("X-Hook-Secret", S2)])).status == 403
    smuggled = request(b"/asana/h/t3/..%2Ft2", headers=(b"X-Hook-Secret: " + S2.encode(),))
    assert await raw(h, smuggled) == 404
    assert await h.store.get("t3") is None
    assert await h.store.get("t2") is None
    genuine = await h.post("t2", headers=[("X-Hook-Secret", S)])
    assert genuine.status == 200
    assert genuine.headers.getall("X-Hook-Secret") == [S]
    await assert_unharmed(h)


@pytest.mark.parametrize("secret", [S, S2], ids=["same-secret", "other-secret"])
async def test_a_repeat_handshake_after_success_is_refused(h: Harness, secret: str) -> None:
    """Once the webhook is established, any handshake (even the same secret) is 403 and changes nothing."""
    reply = await h.post("t1", headers=[("X-Hook-Secret", secret)])
    assert reply.status == 403
    assert "X-Hook-Secret" not in reply.headers
    await assert_unharmed(h)


async def test_a_different_secret_while_pending_is_refused_and_the_first_one_kept(h: Harness) -> None:
    """Pending t2 captured S; S2 next gets 403 and S stays; S again is echoed idempotently."""
    await h.arm("t2")
    assert (await h.post("t2", headers=[("X-Hook-Secret", S)])).status == 200
    assert (await h.post("t2", headers=[("X-Hook-Secret", S2)])).status == 403
    record = await h.store.get("t2")
    assert record is not None
    assert record.secret == S
    assert (await h.post("t2", headers=[("X-Hook-Secret", S)])).status == 200
    await assert_unharmed(h)


@pytest.mark.parametrize(
    "header",
    [
        b"X-Hook-Secret: ",
        b"X-Hook-Secret: " + b"a" * 600,
        b"X-Hook-Secret: \xff\xfe\xfd",
        b"X-Hook-Secret: has space",
        b"X-Hook-Secret: " + S.encode() + b"\r\nX-Hook-Secret: " + S2.encode(),
    ],
    ids=["empty", "600-chars", "non-ascii", "with-space", "repeated"],
)
async def test_an_unusable_handshake_secret_on_a_pending_create_is_refused(h: Harness, header: bytes) -> None:
    """Empty, oversized, non-ASCII, spaced or repeated X-Hook-Secret: 4xx, and the create stays armed."""
    await h.arm("t2")
    status = await raw(h, request(b"/asana/h/t2", headers=(header,)))
    assert status is not None
    assert 400 <= status < 500
    assert await h.store.get("t2") is None
    assert (await h.post("t2", headers=[("X-Hook-Secret", S)])).status == 200
    await assert_unharmed(h)


# -- signatures -------------------------------------------------------------------------------------

FORGED = [
    ("attacker-key", sign(S2, B_EV)),
    ("empty-key", sign("", B_EV)),
    ("heartbeat-signature", SIG_HB),
    ("uppercase", SIG_EV.upper()),
    ("truncated", SIG_EV[:-1]),
    ("extended", SIG_EV + "0"),
    ("one-flipped", SIG_EV[:-1] + ("0" if SIG_EV[-1] != "0" else "1")),
    ("sha256-prefix", "sha256=" + SIG_EV),
    ("zeros", "0" * 64),
    ("empty", ""),
    ("huge", "a" * 8000),
    ("non-hex", "g" * 64),
    ("unicode", "é" * 64),
]


@pytest.mark.parametrize(("name", "signature"), FORGED, ids=[name for name, _ in FORGED])
async def test_a_forged_or_malformed_signature_gets_401(h: Harness, name: str, signature: str) -> None:
    """Every wrong X-Hook-Signature on a real event batch: 401, handler never called."""
    if signature.isascii():
        reply = await h.deliver("t1", B_EV, signature)
        assert reply.status == 401
    else:
        status = await raw(h, request(headers=(b"X-Hook-Signature: " + signature.encode(),), body=B_EV))
        assert status == 401
    await assert_unharmed(h)


async def test_a_delivery_without_or_with_two_signatures_gets_401(h: Harness) -> None:
    """No X-Hook-Signature, or the right one twice: 401 both."""
    assert (await h.post("t1", B_EV)).status == 401
    twice = await h.post("t1", B_EV, [("X-Hook-Signature", SIG_EV), ("X-Hook-Signature", SIG_EV)])
    assert twice.status == 401
    await assert_unharmed(h)


async def test_a_valid_signature_on_an_unknown_token_gets_401(h: Harness) -> None:
    """A correctly signed body posted to a token with no record: 401 (no secret, no trust)."""
    assert (await h.deliver("t2", B_EV, SIG_EV)).status == 401
    await assert_unharmed(h)


async def test_replayed_deliveries_are_acknowledged_but_dispatched_once(h: Harness) -> None:
    """The same signed batch five times: 200 each time (Asana may resend), one handler call."""
    for _ in range(5):
        assert (await h.deliver("t1", B_EV, SIG_EV)).status == 200
    assert len(h.calls) == 1
    h.calls.clear()
    record = await h.store.get("t1")
    assert record is not None
    assert record.secret == S


# -- bodies -----------------------------------------------------------------------------------------


async def test_an_oversized_declared_body_gets_413_before_any_work(h: Harness) -> None:
    """Content-Length above the limit: 413 even with a signature that would match."""
    body = b'{"events":[' + b" " * LIMIT + b"]}"
    assert (await h.deliver("t1", body, sign(S, body))).status == 413
    # Declared huge, never sent: refused from the header alone.
    head = request(
        headers=(b"Content-Length: 9999999999", b"X-Hook-Signature: " + SIG_HB.encode()), length=False
    )
    assert await raw(h, head) == 413
    await assert_unharmed(h)


async def test_an_oversized_chunked_body_gets_413(h: Harness) -> None:
    """A chunked body growing past the limit is cut off with 413, however well it is signed."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"events":['
        for _ in range(LIMIT // 1024 + 2):
            yield b" " * 1024
        yield b"]}"

    body = b'{"events":[' + b" " * 1024 * (LIMIT // 1024 + 2) + b"]}"
    reply = await h.post("t1", chunks, [("X-Hook-Signature", sign(S, body))])
    assert reply.status == 413
    await assert_unharmed(h)


async def test_a_gzip_bomb_is_refused_at_the_limit(h: Harness) -> None:
    """10 MB of zeros in 10 KB of gzip: decompression stops at the limit with 413."""
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < LIMIT
    reply = await h.post("t1", bomb, [("Content-Encoding", "gzip"), ("X-Hook-Signature", "0" * 64)])
    assert reply.status == 413
    await assert_unharmed(h)


MALFORMED = [
    ("not-json", b"events"),
    ("truncated", B_EV[:-3]),
    ("array", b"[]"),
    ("null", b"null"),
    ("events-object", b'{"events":{}}'),
    ("events-missing", b'{"data":[]}'),
    ("nan", b'{"events":[NaN]}'),
    ("deep", b'{"events":' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
    ("latin-1", '{"events":[{"name":"café"}]}'.encode("latin-1")),
    ("utf-16", B_HB.decode().encode("utf-16")),
    ("bom", b"\xef\xbb\xbf" + B_HB),
    ("nul", b"\0" * 32),
    ("empty", b""),
]


@pytest.mark.parametrize(("name", "body"), MALFORMED, ids=[name for name, _ in MALFORMED])
async def test_a_correctly_signed_malformed_body_gets_400_and_no_dispatch(
    h: Harness, name: str, body: bytes
) -> None:
    """Signed but not a UTF-8 JSON object with an events list: 400 (never 5xx), handler not called."""
    assert (await h.deliver("t1", body, sign(S, body))).status == 400
    await assert_unharmed(h)


@pytest.mark.parametrize(("name", "body"), MALFORMED, ids=[name for name, _ in MALFORMED])
async def test_an_unsigned_malformed_body_gets_401(h: Harness, name: str, body: bytes) -> None:
    """The same bodies without the right signature: 401, refused before parsing."""
    assert (await h.deliver("t1", body, sign(S2, body))).status == 401
    await assert_unharmed(h)


async def test_odd_events_in_a_signed_batch_do_not_sink_it(h: Harness) -> None:
    """A signed batch of odd items: 200, and the handler gets them as unparsed, not an exception."""
    body = b'{"events":[1,"x",null,{"action":5},{}]}'
    assert (await h.deliver("t1", body, sign(S, body))).status == 200
    [(_, delivery)] = h.calls
    assert delivery.events == []
    assert len(delivery.unparsed) == 5
    h.calls.clear()
    await assert_unharmed(h)


async def test_a_gzip_body_is_verified_over_the_decoded_bytes(h: Harness) -> None:
    """gzip on the wire: the signature is checked over what the body decodes to, never the wire bytes."""
    packed = gzip.compress(B_EV)
    wire = await h.post("t1", packed, [("Content-Encoding", "gzip"), ("X-Hook-Signature", sign(S, packed))])
    assert wire.status == 401
    assert h.calls == []
    decoded = await h.post("t1", packed, [("Content-Encoding", "gzip"), ("X-Hook-Signature", SIG_EV)])
    assert decoded.status == 200
    assert len(h.calls) == 1
    h.calls.clear()
    record = await h.store.get("t1")
    assert record is not None
    assert record.secret == S


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_corrupt_compressed_body_gets_4xx_not_500(h: Harness, encoding: str) -> None:
    """Content-Encoding gzip/deflate over bytes that do not decompress: 4xx, never 500."""
    reply = await h.post(
        "t1", b"definitely not compressed", [("Content-Encoding", encoding), ("X-Hook-Signature", SIG_EV)]
    )
    assert 400 <= reply.status < 500
    await assert_unharmed(h)


async def test_an_unsupported_content_encoding_gets_4xx(h: Harness) -> None:
    """Content-Encoding br (no decoder installed): 4xx from the HTTP layer, nothing dispatched."""
    head = (b"Content-Encoding: br", b"X-Hook-Signature: " + SIG_EV.encode())
    status = await raw(h, request(headers=head, body=B_EV))
    assert status is not None
    assert 400 <= status < 500
    await assert_unharmed(h)


async def test_an_unknown_content_encoding_is_verified_over_the_raw_bytes(h: Harness) -> None:
    """An encoding aiohttp does not know is passed through as is: verified over those bytes or 401."""
    forged = request(
        headers=(b"Content-Encoding: x-nonsense", b"X-Hook-Signature: " + sign(S2, B_EV).encode()), body=B_EV
    )
    assert await raw(h, forged) == 401
    assert h.calls == []
    genuine = request(
        headers=(b"Content-Encoding: x-nonsense", b"X-Hook-Signature: " + SIG_EV.encode()), body=B_EV
    )
    assert await raw(h, genuine) == 200
    assert len(h.calls) == 1
    h.calls.clear()


async def test_deflate_of_the_signed_bytes_verifies_like_gzip(h: Harness) -> None:
    """deflate is decoded as gzip is; a signature over the decoded bytes verifies."""
    packed = zlib.compress(B_EV)
    reply = await h.post("t1", packed, [("Content-Encoding", "deflate"), ("X-Hook-Signature", SIG_EV)])
    assert reply.status == 200
    assert len(h.calls) == 1
    h.calls.clear()


# -- the HTTP layer ---------------------------------------------------------------------------------


async def test_huge_headers_get_4xx(h: Harness) -> None:
    """A 100 KB header value or 500 junk headers: refused by the HTTP layer with 4xx (or a hang-up)."""
    big = request(headers=(b"X-Junk: " + b"a" * 100_000, b"X-Hook-Signature: " + SIG_HB.encode()), body=B_HB)
    many = request(headers=tuple(b"X-Junk-%d: x" % i for i in range(500)), body=B_HB)
    for attempt in (big, many):
        status = await raw(h, attempt)
        assert status is None or 400 <= status < 500
    await assert_unharmed(h)


@pytest.mark.parametrize(
    "method", [b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD", b"TRACE", b"FOO", b"CONNECT"]
)
async def test_other_methods_on_the_hook_path_get_4xx(h: Harness, method: bytes) -> None:
    """Anything but POST on /asana/h/{token}, with a valid signature even: 4xx and nothing dispatched."""
    status = await raw(
        h, request(method=method, headers=(b"X-Hook-Signature: " + SIG_EV.encode(),), body=B_EV)
    )
    assert status is None or 400 <= status < 500
    await assert_unharmed(h)


PATHS = [
    b"/asana/h/../../etc/passwd",
    b"/asana/h/..%2F..%2Fetc%2Fpasswd",
    b"/asana/h/t1/..",
    b"/asana/h/t1/extra",
    b"/asana/h/t1%00",
    b"/asana/h/t1%2F",
    b"/asana/h/%74%31x",
    b"/asana/h/" + b"a" * 129,
    b"/asana/h/",
    b"/asana/h",
    b"/asana/h/t1?x=" + b"y" * 1000,
    b"//asana/h/t1",
    b"/ASANA/H/t1",
    b"*",
    b"http://evil.example/asana/h/t1",
]


@pytest.mark.parametrize("path", PATHS, ids=[p.decode()[:40] for p in PATHS])
async def test_odd_paths_never_reach_a_handler_unverified(h: Harness, path: bytes) -> None:
    """Traversal, encoded and over-long tokens: 4xx (401 at most when it still names t1), never 5xx."""
    status = await raw(h, request(path, headers=(b"X-Hook-Signature: " + SIG_HB.encode(),), body=B_EV))
    assert status is None or 400 <= status < 500
    status = await raw(h, request(path, headers=(b"X-Hook-Secret: " + S2.encode(),)))
    assert status is None or 400 <= status < 500
    await assert_unharmed(h)


@dataclass(frozen=True)
class Garbage:
    name: str
    data: bytes


GARBAGE = [
    Garbage("tls-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64),
    Garbage("no-http", b"hello\r\n\r\n"),
    Garbage("bad-version", b"POST /asana/h/t1 HTTP/9.9\r\nHost: x\r\n\r\n"),
    Garbage(
        "smuggling",
        b"POST /asana/h/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
    ),
    Garbage("bad-chunk", b"POST /asana/h/t1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    Garbage("header-no-colon", b"POST /asana/h/t1 HTTP/1.1\r\nHost: x\r\nX-Hook-Signature\r\n\r\n"),
    Garbage("bare-lf", b"POST /asana/h/t1 HTTP/1.1\nHost: x\nContent-Length: 0\n\n"),
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=[g.name for g in GARBAGE])
async def test_garbage_on_the_socket_is_refused_and_the_receiver_keeps_answering(
    h: Harness, garbage: Garbage
) -> None:
    """Non-HTTP bytes, smuggling and broken framing: 4xx or a hang-up, and service continues."""
    status = await raw(h, garbage.data)
    assert status is None or 400 <= status < 500
    await assert_unharmed(h)


async def test_a_truncated_body_is_never_dispatched(h: Harness) -> None:
    """Content-Length 284 but the client hangs up after 100 bytes: no dispatch, receiver unharmed."""
    head = request(
        headers=(b"X-Hook-Signature: " + SIG_EV.encode(), b"Content-Length: %d" % len(B_EV)), length=False
    )
    port = int(h.receiver.base_url.rsplit(":", 1)[1])
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(head + B_EV[:100])
    await assert_unharmed(h)
