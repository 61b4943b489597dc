"""Validation of webhook requests and responses against Asana's official OpenAPI spec.

The spec is read from ``$ASANA_OAS_PATH`` or ``../shared/spec/asana_oas.yaml`` beside the repository;
tests that need it skip with the reason when it is absent. It is never copied into the project.

Real Asana differs from its spec in a few known ways (see ``shared/spec/README.md``). Exactly these
are relaxed here, and nothing else:

* ``WebhookResponse`` timestamps, ``delivery_retry_count`` and ``last_failure_content`` may be null;
* returned ``WebhookFilter`` keys may be null (Asana echoes unset keys as null);
* ``EventResponse.user`` and ``EventResponse.parent`` may be null.

``is_workspace_webhook`` needs no relaxation: the schemas allow additional properties.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC_PATH = REPO_ROOT.parent / "shared" / "spec" / "asana_oas.yaml"
ASANA_HOST = "https://app.asana.com"

_NULLABLE_WEBHOOK_FIELDS = (
    "created_at",
    "last_success_at",
    "last_failure_at",
    "next_attempt_after",
    "failure_deletion_timestamp",
    "delivery_retry_count",
    "last_failure_content",
)


def spec_path() -> Path:
    """Where the spec is expected: ``$ASANA_OAS_PATH`` or the shared folder beside the repo."""
    return Path(os.environ.get("ASANA_OAS_PATH", str(DEFAULT_SPEC_PATH)))


def _stringify_keys(node: Any) -> Any:
    # YAML reads response codes such as 200: as integers; OpenAPI tools want strings.
    if isinstance(node, dict):
        return {str(k): _stringify_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_stringify_keys(v) for v in node]
    return node


def _nullable_copy(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    # The validator checks `nullable` on the schema that carries `type`, so a nullable wrapper
    # around `allOf: [$ref]` is not enough: inline a copy of the referenced schema instead.
    ref = next(part["$ref"] for part in schema["allOf"] if "$ref" in part)
    target = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return {**copy.deepcopy(target), "nullable": True}


def _relax_known_differences(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    detail = schemas["WebhookResponse"]["allOf"][1]["properties"]
    for name in _NULLABLE_WEBHOOK_FIELDS:
        detail[name]["nullable"] = True
    for prop in schemas["WebhookFilter"]["properties"].values():
        prop["nullable"] = True
    event = schemas["EventResponse"]["properties"]
    for name in ("user", "parent"):
        event[name] = _nullable_copy(spec, event[name])


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed, relaxed spec (cached: parsing takes about a second)."""
    with spec_path().open("rb") as handle:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec: dict[str, Any] = _stringify_keys(yaml.load(handle, Loader=loader))  # noqa: S506
    _relax_known_differences(spec)
    return spec


@functools.cache
def openapi() -> OpenAPI:
    """An openapi-core validator over the relaxed spec (the spec itself is trusted, not re-checked)."""
    from openapi_core import Config

    return OpenAPI.from_dict(load_spec(), config=Config(spec_validator_cls=None))


def _mock_request(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None
) -> MockRequest:
    parts = urlsplit(url)
    path = parts.path
    # Requests may target the emulator or a test server; map them onto Asana's server root.
    marker = "/api/1.0"
    if marker in path:
        path = path.split(marker, 1)[1]
    path = marker + path
    args = dict(parse_qsl(parts.query, keep_blank_values=True))
    return MockRequest(
        ASANA_HOST,
        method.lower(),
        path,
        args=args,
        headers=dict(headers or {"Authorization": "Bearer x"}),
        data=body if body else None,
    )


def validate_request(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> None:
    """Raise if a request (method, full URL with query, JSON body) does not fit the spec."""
    openapi().validate_request(_mock_request(method, url, body, headers))


def validate_response(method: str, url: str, status: int, body: bytes) -> None:
    """Raise if a response body does not fit the spec for that operation and status."""
    request = _mock_request(method, url, None, None)
    openapi().validate_response(request, MockResponse(body, status_code=status))


def validate_schema(name: str, instance: Any) -> None:
    """Raise if ``instance`` does not fit ``components.schemas[name]`` (e.g. ``EventResponse``)."""
    spec = load_spec()
    registry: Registry[Any] = Registry().with_resource(
        "urn:asana-oas", Resource.from_contents(spec, default_specification=DRAFT4)
    )
    schema = {"$ref": f"urn:asana-oas#/components/schemas/{name}"}
    OAS30Validator(schema, registry=registry).validate(instance)


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes, as Asana sends them."""
    return json.dumps(payload, separators=(",", ":")).encode()
