"""Request building and response decoding (asana_hooks.api_requests): pure functions, no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asana_hooks.api_requests import (
    CreatedWebhook,
    RequestSpec,
    UnexpectedResponse,
    WebhookPage,
    api_request,
    create_webhook_request,
    decode_created_webhook,
    decode_envelope,
    decode_response,
    decode_webhook,
    decode_webhook_page,
    delete_webhook_request,
    get_webhook_request,
    list_webhooks_request,
    update_webhook_request,
)
from asana_hooks.backoff import parse_retry_after
from asana_hooks.errors import (
    AsanaAPIError,
    BadRequest,
    DuplicateWebhook,
    Forbidden,
    HandshakeError,
    HandshakeFailed,
    InvalidRequestError,
    InvalidTarget,
    LargerScopeFiltersRequired,
    NotFound,
    PaymentRequired,
    RateLimited,
    ServerError,
    Unauthorized,
    WebhookNotFound,
)
from asana_hooks.models import Webhook, WebhookFilter
from tests.client.conftest import PROJECT, SECRET, TARGET, WEBHOOK_GID, WORKSPACE


def errors_body(*errors: dict[str, Any]) -> bytes:
    """An Asana error body."""
    return json.dumps({"errors": list(errors)}).encode()


# -- RequestSpec --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_request_spec_refuses_a_body_on_get_and_delete(method: str) -> None:
    """GET and DELETE never carry a body: Asana's CDN rejects a GET with one."""
    with pytest.raises(InvalidRequestError, match="cannot carry a body"):
        RequestSpec(method, "/webhooks", (), {"data": {}})


@pytest.mark.parametrize("path", ["webhooks", "https://evil.test/x", "//evil.test/x", "/webhooks?x=1"])
def test_request_spec_refuses_anything_but_an_api_path(path: str) -> None:
    """Hosts, scheme-relative URLs and inline query strings are refused (the token must stay home)."""
    with pytest.raises(InvalidRequestError, match="API path"):
        RequestSpec("GET", path)


def test_request_spec_refuses_unknown_methods() -> None:
    """Only GET, POST, PUT, PATCH and DELETE are sent."""
    with pytest.raises(InvalidRequestError, match="unsupported"):
        RequestSpec("get", "/webhooks")


# -- create -------------------------------------------------------------------------------------


def test_create_request_from_arguments_has_one_envelope() -> None:
    """resource and target become {"data": {"resource", "target"}} on POST /webhooks."""
    spec = create_webhook_request(PROJECT, TARGET)
    assert spec == RequestSpec("POST", "/webhooks", (), {"data": {"resource": PROJECT, "target": TARGET}})


@pytest.mark.parametrize(
    "payload",
    [
        {"resource": PROJECT, "target": TARGET},
        {"data": {"resource": PROJECT, "target": TARGET}},
        {"data": {"resource": PROJECT, "target": TARGET, "filters": None}},
    ],
)
def test_w15_create_request_from_a_mapping_is_unwrapped_once(payload: dict[str, Any]) -> None:
    """A bare mapping or one {"data": ...} envelope gives the same single-envelope body."""
    spec = create_webhook_request(payload)
    assert spec.json_body == {"data": {"resource": PROJECT, "target": TARGET}}


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"data": {"data": {"resource": PROJECT, "target": TARGET}}}, "enveloped twice"),
        ({"data": {"resource": PROJECT}, "options": {}}, "alone"),
        ({"data": [PROJECT, TARGET]}, "must be a mapping"),
        ({"data": {"target": TARGET}}, "lacks resource"),
        ({"resource": PROJECT}, "lacks target"),
        ({}, "lacks resource and target"),
        ({"resource": 1200000000000002, "target": TARGET}, "resource must be"),
        ({"resource": PROJECT, "target": "  "}, "target must be"),
        ({"resource": "../users/me", "target": TARGET}, "resource must be"),
    ],
)
def test_w15_create_request_refuses_malformed_mappings(payload: dict[str, Any], match: str) -> None:
    """Double envelopes, stray keys, missing or mistyped resource/target raise InvalidRequestError."""
    with pytest.raises(InvalidRequestError, match=match):
        create_webhook_request(payload)


def test_create_request_refuses_mixing_a_mapping_with_arguments() -> None:
    """Either the mapping or the resource/target/filters arguments, never both."""
    with pytest.raises(InvalidRequestError, match="not both"):
        create_webhook_request({"resource": PROJECT, "target": TARGET}, TARGET)
    with pytest.raises(InvalidRequestError, match="not both"):
        create_webhook_request({"resource": PROJECT, "target": TARGET}, filters=[])


def test_create_request_refuses_a_missing_target() -> None:
    """A gid without target is refused locally."""
    with pytest.raises(InvalidRequestError, match="target"):
        create_webhook_request(PROJECT)


def test_create_request_normalises_filters_from_models_and_mappings() -> None:
    """Filters drop null keys, keep unknown keys, and keep their order."""
    spec = create_webhook_request(
        {
            "data": {
                "resource": PROJECT,
                "target": TARGET,
                "filters": [
                    {"resource_type": "task", "action": "changed", "fields": ["name"], "fields_x": 1},
                    WebhookFilter(resource_type="story", resource_subtype=None, action="added"),
                ],
            }
        },
        opt_pretty=True,
    )
    assert spec.json_body == {
        "data": {
            "resource": PROJECT,
            "target": TARGET,
            "filters": [
                {"resource_type": "task", "action": "changed", "fields": ["name"], "fields_x": 1},
                {"resource_type": "story", "action": "added"},
            ],
        }
    }
    assert spec.query == (("opt_pretty", "true"),)


@pytest.mark.parametrize(
    ("filters", "match"),
    [
        ({"resource_type": "task"}, "sequence"),
        ("task", "sequence"),
        (42, "sequence"),
        ([42], r"filters\[0\] must be"),
        (
            [{"action": "changed"}, {"fields": "name"}],
            r"filters\[1\] is not a valid webhook filter \(fields\)",
        ),
    ],
)
def test_create_request_refuses_malformed_filters(filters: Any, match: str) -> None:
    """A lone mapping, a string, a non-filter item or a bad field type is refused, naming the index."""
    with pytest.raises(InvalidRequestError, match=match):
        create_webhook_request(PROJECT, TARGET, filters)


# -- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opt_fields", "opt_pretty", "query"),
    [
        (None, False, ()),
        ([], False, ()),
        (["active", "target"], False, (("opt_fields", "active,target"),)),
        (("filters.action",), True, (("opt_fields", "filters.action"), ("opt_pretty", "true"))),
        ("active,target", False, (("opt_fields", "active,target"),)),
    ],
)
def test_options_are_comma_joined_and_pretty_is_true(
    opt_fields: Any, opt_pretty: bool, query: tuple[tuple[str, str], ...]
) -> None:
    """opt_fields goes out as a=b,c; opt_pretty as true; absent when not asked for."""
    assert get_webhook_request(WEBHOOK_GID, opt_fields=opt_fields, opt_pretty=opt_pretty).query == query


@pytest.mark.parametrize("opt_fields", [["active", ""], ["active", 3], [" "]])
def test_options_refuse_empty_or_non_string_field_names(opt_fields: Any) -> None:
    """Empty or non-string entries in opt_fields are refused."""
    with pytest.raises(InvalidRequestError, match="opt_fields"):
        get_webhook_request(WEBHOOK_GID, opt_fields=opt_fields)


# -- get, list, update, delete, generic ----------------------------------------------------------


@pytest.mark.parametrize("gid", ["", "14/../users", "14?x=1", "14 4", None])
def test_gid_arguments_must_be_path_safe(gid: Any) -> None:
    """A gid that is empty or could change the path is refused before anything is sent."""
    with pytest.raises(InvalidRequestError, match="webhook_gid"):
        get_webhook_request(gid)
    with pytest.raises(InvalidRequestError, match="webhook_gid"):
        delete_webhook_request(gid)
    with pytest.raises(InvalidRequestError, match="webhook_gid"):
        update_webhook_request(gid, [])


def test_list_request_orders_its_query_and_carries_options() -> None:
    """workspace, resource, limit, offset, then opt_fields and opt_pretty."""
    spec = list_webhooks_request(
        WORKSPACE, resource=PROJECT, limit=50, offset="tok-a", opt_fields=["target"], opt_pretty=True
    )
    assert spec == RequestSpec(
        "GET",
        "/webhooks",
        (
            ("workspace", WORKSPACE),
            ("resource", PROJECT),
            ("limit", "50"),
            ("offset", "tok-a"),
            ("opt_fields", "target"),
            ("opt_pretty", "true"),
        ),
    )
    assert list_webhooks_request(WORKSPACE).query == (("workspace", WORKSPACE), ("limit", "100"))


@pytest.mark.parametrize("limit", [0, 101, 500, -1, True, 5.0, "10"])
def test_w17_list_request_validates_limit(limit: Any) -> None:
    """limit must be an int within 1..100 (bools and floats included in the refusal)."""
    with pytest.raises(InvalidRequestError, match=r"1\.\.100"):
        list_webhooks_request(WORKSPACE, limit=limit)


def test_w17_list_request_requires_workspace_and_a_real_offset() -> None:
    """An empty workspace, bad resource or empty offset is refused."""
    with pytest.raises(InvalidRequestError, match="workspace"):
        list_webhooks_request("")
    with pytest.raises(InvalidRequestError, match="resource"):
        list_webhooks_request(WORKSPACE, resource="")
    with pytest.raises(InvalidRequestError, match="offset"):
        list_webhooks_request(WORKSPACE, offset="")


def test_update_request_puts_filters_in_one_envelope() -> None:
    """PUT /webhooks/{gid} with {"data": {"filters": [...]}}; an empty list clears them."""
    spec = update_webhook_request(WEBHOOK_GID, [WebhookFilter(action="changed", fields=["name"])])
    assert spec == RequestSpec(
        "PUT",
        f"/webhooks/{WEBHOOK_GID}",
        (),
        {"data": {"filters": [{"action": "changed", "fields": ["name"]}]}},
    )
    assert update_webhook_request(WEBHOOK_GID, []).json_body == {"data": {"filters": []}}


def test_delete_request_has_no_body_and_only_opt_pretty() -> None:
    """DELETE /webhooks/{gid} carries no body and no opt_fields (Asana takes none there)."""
    assert delete_webhook_request(WEBHOOK_GID, opt_pretty=True) == RequestSpec(
        "DELETE", f"/webhooks/{WEBHOOK_GID}", (("opt_pretty", "true"),), None
    )


def test_api_request_uppercases_and_envelopes_once() -> None:
    """The generic builder shares the envelope rule and refuses non-string params."""
    assert api_request("post", "/tasks", data={"data": {"name": "x"}}) == RequestSpec(
        "POST", "/tasks", (), {"data": {"name": "x"}}
    )
    assert api_request("get", "/users/me", params={"opt_fields": "name"}).query == (("opt_fields", "name"),)
    with pytest.raises(InvalidRequestError, match="params"):
        api_request("GET", "/users/me", params={"limit": 5})  # type: ignore[dict-item]


# -- decoding ------------------------------------------------------------------------------------


def test_decode_response_returns_data() -> None:
    """A 2xx JSON envelope yields its data member."""
    assert decode_response(200, b'{"data":{"gid":"1"}}', {}, "GET", "/users/me") == {"gid": "1"}


@pytest.mark.parametrize(
    "body", [b"", b"<html>ok</html>", b"[1,2]", b'{"errors":[]}', b"\xff\xfe", b"[" * 5000]
)
def test_a_2xx_body_without_a_data_envelope_raises_unexpected_response(body: bytes) -> None:
    """Non-JSON, non-object or data-less success bodies raise UnexpectedResponse, not ValueError."""
    with pytest.raises(UnexpectedResponse) as caught:
        decode_envelope(200, body, {}, "GET", "/users/me")
    assert isinstance(caught.value, AsanaAPIError)
    assert "html" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "method", "path", "errors", "expected"),
    [
        (400, "POST", "/webhooks", [{"message": "resource: Missing input"}], BadRequest),
        (
            400,
            "POST",
            "/webhooks",
            [{"message": "x"}, {"error": "invalid_filters_for_larger_scoped_webhooks", "message": "y"}],
            LargerScopeFiltersRequired,
        ),
        (401, "GET", "/webhooks", [{"message": "Not Authorized"}], Unauthorized),
        (402, "POST", "/webhooks", [{"message": "Premium only"}], PaymentRequired),
        (
            403,
            "POST",
            "/webhooks",
            [{"message": "DUPLICATED WEBHOOK. You already have one"}],
            DuplicateWebhook,
        ),
        (403, "PUT", "/webhooks/1", [{"message": "Duplicated webhook."}], DuplicateWebhook),
        (403, "POST", "/webhooks", [{"message": "Invalid Target"}], InvalidTarget),
        (403, "POST", "/webhooks", [{"message": "The hostname localhost is not allowed"}], InvalidTarget),
        (403, "POST", "/webhooks", [{"message": "Bad URL"}], InvalidTarget),
        (403, "POST", "/webhooks", [{"message": "You do not have access"}], Forbidden),
        (403, "GET", "/webhooks/1", [{"message": "Invalid target"}], Forbidden),
        (403, "POST", "/tasks", [{"message": "host"}], Forbidden),
        (404, "GET", "/webhooks/1400000000000004", [{"message": "Unknown object"}], WebhookNotFound),
        (404, "DELETE", "/webhooks/1400000000000004", [], WebhookNotFound),
        (404, "GET", "/webhooks", [], NotFound),
        (404, "GET", "/users/me", [], NotFound),
        (429, "GET", "/webhooks", [], RateLimited),
        (500, "GET", "/webhooks", [{"message": "Server Error", "phrase": "6 sad squid"}], ServerError),
        (503, "GET", "/webhooks", [], ServerError),
        (451, "GET", "/webhooks", [], AsanaAPIError),
        (409, "POST", "/webhooks", [], AsanaAPIError),
    ],
)
def test_error_statuses_map_to_the_typed_error_tree(
    status: int, method: str, path: str, errors: list[dict[str, Any]], expected: type[AsanaAPIError]
) -> None:
    """Each status (and, for 400/403/404, its message or path) gives the specific error class."""
    with pytest.raises(AsanaAPIError) as caught:
        decode_envelope(status, errors_body(*errors), {}, method, path)
    assert type(caught.value) is expected
    assert (caught.value.status, caught.value.method, caught.value.path) == (status, method, path)
    assert caught.value.errors == errors


def test_error_objects_keep_unknown_keys_and_skip_non_objects() -> None:
    """errors[] items keep every key (error, user_message ...); non-object items are dropped."""
    body = json.dumps(
        {"errors": [{"message": "m", "user_message": "u", "error": "code", "extra": [1]}, "stray", 3]}
    ).encode()
    with pytest.raises(BadRequest) as caught:
        decode_envelope(400, body, {}, "POST", "/webhooks")
    assert caught.value.errors == [{"message": "m", "user_message": "u", "error": "code", "extra": [1]}]
    assert caught.value.error_codes == ["code"]


@pytest.mark.parametrize(
    "body", [b"<html><title>502 Bad Gateway</title></html>", b"", b'{"errors": "nope"}', b"null", b"\xff"]
)
def test_unreadable_error_bodies_still_give_the_typed_error_without_the_body(body: bytes) -> None:
    """HTML, empty or malformed error bodies give ServerError with errors=[] and no body text."""
    with pytest.raises(ServerError) as caught:
        decode_envelope(502, body, {"Content-Type": "text/html"}, "GET", "/webhooks")
    assert caught.value.errors == []
    assert "Bad Gateway" not in str(caught.value)
    assert str(caught.value) == "Asana answered 502 on GET /webhooks: no error message in the response"


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "30"}, 30.0),
        ({"RETRY-AFTER": "0.5"}, 0.5),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "NaN"}, None),
        ({}, None),
    ],
)
def test_429_carries_retry_after_read_case_insensitively(
    headers: dict[str, str], retry_after: float | None
) -> None:
    """RateLimited.retry_after is the header's seconds, or None when absent or unreadable."""
    with pytest.raises(RateLimited) as caught:
        decode_envelope(429, errors_body({"message": "slow down"}), headers, "POST", "/webhooks")
    assert caught.value.retry_after == retry_after


@given(st.text(max_size=12))
def test_the_decoder_reads_retry_after_exactly_as_the_backoff_parser(value: str) -> None:
    """The decoder reads Retry-After through backoff.parse_retry_after, whatever the text."""
    with pytest.raises(RateLimited) as caught:
        decode_envelope(429, b"", {"Retry-After": value}, "GET", "/webhooks")
    assert caught.value.retry_after == parse_retry_after(value)


def test_created_webhook_carries_the_secret_but_never_shows_it() -> None:
    """decode_created_webhook reads data and the top-level X-Hook-Secret; repr omits the secret."""
    envelope = {
        "data": {"gid": WEBHOOK_GID, "resource_type": "webhook", "target": TARGET},
        "X-Hook-Secret": SECRET,
    }
    created = decode_created_webhook(envelope)
    assert created == CreatedWebhook(Webhook(gid=WEBHOOK_GID, resource_type="webhook", target=TARGET), SECRET)
    assert SECRET not in repr(created)
    assert SECRET not in str(created)
    assert decode_created_webhook({"data": {"gid": WEBHOOK_GID}}).secret is None


@pytest.mark.parametrize(
    "envelope",
    [
        {"data": {"gid": WEBHOOK_GID}, "X-Hook-Secret": 7},
        {"data": {"resource_type": "webhook"}, "X-Hook-Secret": SECRET},
        {"data": None},
    ],
)
def test_a_malformed_201_raises_unexpected_response_without_the_secret(envelope: dict[str, Any]) -> None:
    """A record without gid or a non-string secret raises UnexpectedResponse; no value is echoed."""
    with pytest.raises(UnexpectedResponse) as caught:
        decode_created_webhook(envelope, method="POST", path="/webhooks")
    assert SECRET not in str(caught.value)
    assert caught.value.path == "/webhooks"


def test_decode_webhook_refuses_a_record_without_gid() -> None:
    """A data member that is not a webhook raises UnexpectedResponse."""
    with pytest.raises(UnexpectedResponse, match="not a webhook record"):
        decode_webhook([])


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ({"data": [], "next_page": None}, WebhookPage((), None)),
        ({"data": [{"gid": "1"}]}, WebhookPage((Webhook(gid="1"),), None)),
        (
            {"data": [{"gid": "1"}], "next_page": {"offset": "tok-a", "path": "/webhooks?offset=tok-a"}},
            WebhookPage((Webhook(gid="1"),), "tok-a"),
        ),
    ],
)
def test_decode_webhook_page_reads_items_and_the_next_offset(
    envelope: dict[str, Any], expected: WebhookPage
) -> None:
    """next_page null or absent ends the listing; otherwise its offset is returned."""
    assert decode_webhook_page(envelope) == expected


@pytest.mark.parametrize(
    ("envelope", "match"),
    [
        ({"data": {"gid": "1"}}, "not a list"),
        ({"data": [{"gid": "1"}], "next_page": {"path": "/webhooks"}}, "no offset"),
        ({"data": [{"no": "gid"}], "next_page": None}, "not a webhook record"),
    ],
)
def test_decode_webhook_page_refuses_malformed_pages(envelope: dict[str, Any], match: str) -> None:
    """A non-list data, a next_page without offset or a bad item raises UnexpectedResponse."""
    with pytest.raises(UnexpectedResponse, match=match):
        decode_webhook_page(envelope)


def test_a_400_about_the_handshake_on_create_is_a_handshake_failure() -> None:
    """Asana's 400 for a failed handshake is HandshakeFailed: both a BadRequest and a HandshakeError."""
    body = b'{"errors":[{"message":"Webhook handshake failed: the target answered 401."}]}'
    with pytest.raises(HandshakeFailed) as caught:
        decode_envelope(400, body, {}, "POST", "/webhooks")
    assert isinstance(caught.value, BadRequest)
    assert isinstance(caught.value, HandshakeError)
    with pytest.raises(BadRequest) as other:
        decode_envelope(400, body, {}, "PUT", "/webhooks/1400000000000004")
    assert not isinstance(other.value, HandshakeError)
