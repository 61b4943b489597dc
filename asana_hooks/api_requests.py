"""Requests to Asana's REST API as values, and responses decoded to models or typed errors (sans-I/O).

Builders turn arguments into a :class:`RequestSpec` (method, path, query, JSON body) after checking
them, so that a bad argument is refused before anything is sent. They hold the wire rules in one
place: exactly one ``{"data": ...}`` envelope, never a body on ``GET``/``DELETE``, ``opt_fields``
comma-joined and ``opt_pretty`` on every call, page ``limit`` within 1..100.

:func:`decode_envelope` turns a status, raw body and headers into the JSON envelope or the right
exception of :mod:`asana_hooks.errors`. No part of a body ever reaches an exception message except
Asana's own ``errors[].message`` texts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from asana_hooks.backoff import parse_retry_after
from asana_hooks.errors import (
    AsanaAPIError,
    BadRequest,
    DuplicateWebhook,
    Forbidden,
    HandshakeFailed,
    InvalidRequestError,
    InvalidTarget,
    LargerScopeFiltersRequired,
    NotFound,
    PaymentRequired,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
    WebhookNotFound,
)
from asana_hooks.models import NextPage, Webhook, WebhookFilter

__all__ = [
    "BODYLESS_METHODS",
    "CreatedWebhook",
    "FilterInput",
    "LARGER_SCOPE_FILTERS_ERROR",
    "MAX_PAGE_LIMIT",
    "METHODS",
    "RequestSpec",
    "UnexpectedResponse",
    "WebhookPage",
    "api_request",
    "create_webhook_request",
    "decode_created_webhook",
    "decode_envelope",
    "decode_response",
    "decode_webhook",
    "decode_webhook_page",
    "delete_webhook_request",
    "get_webhook_request",
    "list_webhooks_request",
    "request_filters",
    "update_webhook_request",
]

#: Methods the client sends.
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

#: Methods that never carry a body: Asana's CDN rejects a GET with one.
BODYLESS_METHODS = frozenset({"GET", "DELETE"})

#: Largest page Asana serves.
MAX_PAGE_LIMIT = 100

#: The ``error`` code of a 400 for workspace/team/portfolio webhooks without allowed filters.
LARGER_SCOPE_FILTERS_ERROR = "invalid_filters_for_larger_scoped_webhooks"

#: A webhook filter as the caller may give it.
FilterInput = WebhookFilter | Mapping[str, Any]

_WEBHOOKS = "/webhooks"
_WEBHOOK_PATH = re.compile(r"/webhooks/[^/]+")
# Gids are digits in practice; letters, "_" and "-" are tolerated. Anything else could change the path.
_GID = re.compile(r"[0-9A-Za-z_-]+")
_INVALID_TARGET_WORDS = ("target", "host", "url")
_DUPLICATE_WORDS = "duplicated webhook"


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request to Asana's REST API, ready to send.

    Attributes:
        method: Upper-case HTTP method.
        path: API path below the base URL, starting with ``/`` (e.g. ``/webhooks/1400000000000004``).
        query: Query parameters, in order.
        json_body: The JSON body, enveloped as ``{"data": ...}``, or None.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    json_body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidRequestError(f"unsupported HTTP method; use one of {', '.join(sorted(METHODS))}")
        # An absolute URL or "//host" would send the token to another host.
        if not self.path.startswith("/") or self.path.startswith("//") or "?" in self.path:
            raise InvalidRequestError(
                "path must be an API path such as /webhooks, without host or query string"
            )
        if self.json_body is not None and self.method in BODYLESS_METHODS:
            raise InvalidRequestError(f"a {self.method} request cannot carry a body; pass query parameters")


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    """The result of a create: the webhook and the ``X-Hook-Secret`` echoed in the 201 body.

    The secret is left out of ``repr`` so that logging the result cannot leak it.

    Attributes:
        webhook: The created webhook's full record.
        secret: The top-level ``X-Hook-Secret`` of the 201 body, or None when absent.
    """

    webhook: Webhook
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WebhookPage:
    """One page of ``GET /webhooks``.

    Attributes:
        webhooks: The page's webhooks (compact unless ``opt_fields`` asked for more).
        next_offset: The offset of the next page, or None on the last page.
    """

    webhooks: tuple[Webhook, ...]
    next_offset: str | None = None


def _options(opt_fields: Sequence[str] | str | None, opt_pretty: bool) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if opt_fields is not None:
        # A plain string is taken as already comma-joined rather than split into characters.
        names = [opt_fields] if isinstance(opt_fields, str) else list(opt_fields)
        if not all(isinstance(name, str) and name.strip() for name in names):
            raise InvalidRequestError("opt_fields must be a sequence of non-empty field names")
        if names:
            query.append(("opt_fields", ",".join(name.strip() for name in names)))
    if opt_pretty:
        query.append(("opt_pretty", "true"))
    return query


def _gid(value: object, name: str) -> str:
    if not isinstance(value, str) or not _GID.fullmatch(value):
        raise InvalidRequestError(f"{name} must be a non-empty gid string (digits, as Asana returns them)")
    return value


def _required_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{name} must be a non-empty string")
    return value


def request_filters(filters: object) -> list[dict[str, Any]]:
    """Filters as the JSON objects to send (null keys dropped); InvalidRequestError when malformed."""
    # A lone mapping or a string is a Sequence mistake that would otherwise be iterated key by key.
    if isinstance(filters, str | bytes | Mapping) or not isinstance(filters, Sequence):
        raise InvalidRequestError("filters must be a sequence of WebhookFilter objects or mappings")
    result: list[dict[str, Any]] = []
    for index, item in enumerate(filters):
        if isinstance(item, WebhookFilter):
            result.append(item.to_request())
        elif isinstance(item, Mapping):
            try:
                result.append(WebhookFilter.model_validate(dict(item)).to_request())
            except ValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
                raise InvalidRequestError(
                    f"filters[{index}] is not a valid webhook filter ({fields})"
                ) from None
        else:
            raise InvalidRequestError(f"filters[{index}] must be a WebhookFilter or a mapping")
    return result


def _unwrap_once(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Accept ``{...}`` or ``{"data": {...}}``; refuse anything enveloped twice (case W15)."""
    if "data" in payload:
        if set(payload) != {"data"}:
            raise InvalidRequestError(
                'pass either the fields themselves or {"data": {...}} alone, not "data" beside other keys'
            )
        inner = payload["data"]
        if not isinstance(inner, Mapping):
            raise InvalidRequestError('"data" must be a mapping of the request fields')
        if "data" in inner:
            raise InvalidRequestError(
                'the payload is enveloped twice ({"data": {"data": ...}}); the client adds the '
                '"data" envelope itself, so pass the fields or a single envelope'
            )
        return dict(inner)
    return dict(payload)


def create_webhook_request(
    resource: str | Mapping[str, Any],
    target: str | None = None,
    filters: Sequence[FilterInput] | None = None,
    *,
    opt_fields: Sequence[str] | None = None,
    opt_pretty: bool = False,
) -> RequestSpec:
    """Build ``POST /webhooks``.

    Args:
        resource: The gid of the resource to watch, or a mapping with ``resource``, ``target`` and
            optional ``filters``, bare or wrapped once in ``{"data": ...}``.
        target: The URL Asana will call (required with a gid, refused with a mapping).
        filters: Optional allow-list; required by Asana for workspaces, teams and portfolios.
        opt_fields: Fields to return beyond the defaults.
        opt_pretty: Ask for pretty-printed JSON.

    Returns:
        The request, with exactly one ``data`` envelope.

    Raises:
        InvalidRequestError: On a missing resource or target, a double envelope, a mix of the
            mapping and argument forms, or a malformed filter.
    """
    if isinstance(resource, Mapping):
        if target is not None or filters is not None:
            raise InvalidRequestError("pass either a request mapping or resource/target/filters, not both")
        fields = _unwrap_once(resource)
        missing = [name for name in ("resource", "target") if name not in fields]
        if missing:
            raise InvalidRequestError(f"the create request lacks {' and '.join(missing)}")
    else:
        fields = {"resource": resource, "target": target}
        if filters is not None:
            fields["filters"] = filters
    _gid(fields["resource"], "resource")
    _required_text(fields["target"], "target")
    if fields.get("filters") is not None:
        fields["filters"] = request_filters(fields["filters"])
    else:
        fields.pop("filters", None)
    return RequestSpec("POST", _WEBHOOKS, tuple(_options(opt_fields, opt_pretty)), {"data": fields})


def get_webhook_request(
    webhook_gid: str, *, opt_fields: Sequence[str] | None = None, opt_pretty: bool = False
) -> RequestSpec:
    """Build ``GET /webhooks/{webhook_gid}``.

    Raises:
        InvalidRequestError: When the gid is empty or not path-safe.
    """
    gid = _gid(webhook_gid, "webhook_gid")
    return RequestSpec("GET", f"{_WEBHOOKS}/{gid}", tuple(_options(opt_fields, opt_pretty)))


def list_webhooks_request(
    workspace: str,
    *,
    resource: str | None = None,
    limit: int = MAX_PAGE_LIMIT,
    offset: str | None = None,
    opt_fields: Sequence[str] | None = None,
    opt_pretty: bool = False,
) -> RequestSpec:
    """Build one page of ``GET /webhooks``.

    Args:
        workspace: The workspace gid (Asana requires it).
        resource: Only webhooks on this resource gid.
        limit: Page size, 1..100.
        offset: The ``next_page.offset`` of the previous page, or None for the first page.
        opt_fields: Fields to return beyond the compact ones, on every page.
        opt_pretty: Ask for pretty-printed JSON.

    Raises:
        InvalidRequestError: On a missing workspace, a malformed gid, a limit outside 1..100 or an
            empty offset.
    """
    query = [("workspace", _gid(workspace, "workspace"))]
    if resource is not None:
        query.append(("resource", _gid(resource, "resource")))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidRequestError(f"limit must be an integer within 1..{MAX_PAGE_LIMIT} (Asana's page size)")
    query.append(("limit", str(limit)))
    if offset is not None:
        query.append(("offset", _required_text(offset, "offset")))
    query.extend(_options(opt_fields, opt_pretty))
    return RequestSpec("GET", _WEBHOOKS, tuple(query))


def update_webhook_request(
    webhook_gid: str,
    filters: Sequence[FilterInput],
    *,
    opt_fields: Sequence[str] | None = None,
    opt_pretty: bool = False,
) -> RequestSpec:
    """Build ``PUT /webhooks/{webhook_gid}``; the filters replace the webhook's old ones wholesale.

    Raises:
        InvalidRequestError: On a malformed gid or filter.
    """
    gid = _gid(webhook_gid, "webhook_gid")
    body = {"data": {"filters": request_filters(filters)}}
    return RequestSpec("PUT", f"{_WEBHOOKS}/{gid}", tuple(_options(opt_fields, opt_pretty)), body)


def delete_webhook_request(webhook_gid: str, *, opt_pretty: bool = False) -> RequestSpec:
    """Build ``DELETE /webhooks/{webhook_gid}`` (no body, and Asana takes no ``opt_fields`` there).

    Raises:
        InvalidRequestError: On a malformed gid.
    """
    gid = _gid(webhook_gid, "webhook_gid")
    return RequestSpec("DELETE", f"{_WEBHOOKS}/{gid}", tuple(_options(None, opt_pretty)))


def api_request(
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> RequestSpec:
    """Build a request to any route, with the same envelope rule as the webhook operations.

    Args:
        method: HTTP method (any case).
        path: API path, e.g. ``/users/me``.
        params: Query parameters (string values).
        data: The request fields, bare or wrapped once in ``{"data": ...}``; refused on GET/DELETE.

    Raises:
        InvalidRequestError: On an unknown method, a path that is not an API path, a non-string
            parameter, a body on GET/DELETE, or a double envelope.
    """
    query: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidRequestError("params must map strings to strings")
        query.append((name, value))
    body = None if data is None else {"data": _unwrap_once(data)}
    return RequestSpec(method.upper(), path, tuple(query), body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON (HTML from a proxy), bad UTF-8, absurd nesting
        return None


def _error_objects(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("errors"), list):
        return []
    return [dict(item) for item in document["errors"] if isinstance(item, dict)]


def _error_for(
    status: int, errors: list[dict[str, Any]], headers: Mapping[str, str], method: str, path: str
) -> AsanaAPIError:
    where = {"method": method, "path": path}
    messages = [str(e.get("message", "")).casefold() for e in errors]
    if status == 400:
        if any(e.get("error") == LARGER_SCOPE_FILTERS_ERROR for e in errors):
            return LargerScopeFiltersRequired(status, errors, **where)
        if method == "POST" and path == _WEBHOOKS and any("handshake" in m for m in messages):
            return HandshakeFailed(status, errors, **where)
        return BadRequest(status, errors, **where)
    if status == 401:
        return Unauthorized(status, errors, **where)
    if status == 402:
        return PaymentRequired(status, errors, **where)
    if status == 403:
        if any(_DUPLICATE_WORDS in m for m in messages):
            return DuplicateWebhook(status, errors, **where)
        is_create = method == "POST" and path == _WEBHOOKS
        if is_create and any(word in m for m in messages for word in _INVALID_TARGET_WORDS):
            return InvalidTarget(status, errors, **where)
        return Forbidden(status, errors, **where)
    if status == 404:
        if _WEBHOOK_PATH.fullmatch(path):
            return WebhookNotFound(status, errors, **where)
        return NotFound(status, errors, **where)
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        return RateLimited(status, errors, retry_after=retry_after, **where)
    if 500 <= status <= 599:
        return ServerError(status, errors, **where)
    return AsanaAPIError(status, errors, **where)


def decode_envelope(
    status: int, body: bytes, headers: Mapping[str, str], method: str, path: str
) -> dict[str, Any]:
    """Check a response and return its whole JSON object (``data``, ``next_page``, ``X-Hook-Secret``).

    Args:
        status: The HTTP status.
        body: The raw body.
        headers: The response headers (looked up case-insensitively).
        method: The request's method, for error classification and messages.
        path: The request's API path without query string, likewise.

    Returns:
        The decoded JSON object; it has a ``data`` member.

    Raises:
        AsanaAPIError: The matching subclass for an error status; the body's ``errors[]`` objects are
            kept whole, and an unreadable (HTML, empty) body gives an empty list.
        UnexpectedResponse: For a success status whose body is not a JSON object with ``data``.
    """
    document = _parse_json(body)
    if not 200 <= status <= 299:
        raise _error_for(status, _error_objects(document), headers, method, path)
    if not isinstance(document, dict) or "data" not in document:
        raise UnexpectedResponse(
            status,
            [{"message": 'the response body is not a JSON object with a "data" member'}],
            method=method,
            path=path,
        )
    return document


def decode_response(status: int, body: bytes, headers: Mapping[str, str], method: str, path: str) -> Any:
    """Like :func:`decode_envelope`, but return only the ``data`` member."""
    return decode_envelope(status, body, headers, method, path)["data"]


def _unexpected(what: str, method: str, path: str) -> UnexpectedResponse:
    return UnexpectedResponse(200, [{"message": what}], method=method, path=path)


def decode_webhook(data: Any, *, method: str = "", path: str = "") -> Webhook:
    """Validate a ``data`` member as a webhook record.

    Raises:
        UnexpectedResponse: When it is not one (e.g. no ``gid``).
    """
    try:
        return Webhook.model_validate(data)
    except ValidationError:
        raise _unexpected("the response's data is not a webhook record", method, path) from None


def decode_created_webhook(
    envelope: Mapping[str, Any], *, method: str = "", path: str = ""
) -> CreatedWebhook:
    """Read a 201 of ``POST /webhooks``: the record and the top-level ``X-Hook-Secret``.

    Raises:
        UnexpectedResponse: When ``data`` is not a webhook record or the secret is not a string.
    """
    secret = envelope.get("X-Hook-Secret")
    if secret is not None and not isinstance(secret, str):
        raise _unexpected("the response's X-Hook-Secret is not a string", method, path)
    return CreatedWebhook(decode_webhook(envelope.get("data"), method=method, path=path), secret)


def decode_webhook_page(envelope: Mapping[str, Any], *, method: str = "", path: str = "") -> WebhookPage:
    """Read one page of ``GET /webhooks``: its webhooks and ``next_page.offset``.

    Raises:
        UnexpectedResponse: When ``data`` is not a list of webhook records or ``next_page`` is not
            null or an object with an ``offset``.
    """
    data = envelope.get("data")
    if not isinstance(data, list):
        raise _unexpected("the response's data is not a list of webhooks", method, path)
    webhooks = tuple(decode_webhook(item, method=method, path=path) for item in data)
    raw_next = envelope.get("next_page")
    if raw_next is None:
        return WebhookPage(webhooks, None)
    try:
        next_page = NextPage.model_validate(raw_next)
    except ValidationError:
        raise _unexpected("the response's next_page has no offset", method, path) from None
    return WebhookPage(webhooks, next_page.offset)
