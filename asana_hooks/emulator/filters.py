"""Webhook filters: reading them from a request, Asana's rules for larger scopes, and matching events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asana_hooks.emulator.replies import ApiError

__all__ = ["LARGER_SCOPED_TYPES", "matches", "parse_filters"]

#: Resource types whose webhooks need filters from the allow-list below.
LARGER_SCOPED_TYPES = frozenset({"workspace", "team", "portfolio"})

_ALLOWED_ON_LARGER_SCOPES: Mapping[str, frozenset[str]] = {
    "project": frozenset({"added", "removed", "deleted", "undeleted", "changed"}),
    "team_membership": frozenset({"added", "removed"}),
    "workspace_membership": frozenset({"added", "removed"}),
}

_LARGER_SCOPE_ERROR = ApiError(
    400,
    "Webhooks for larger scoped resources must have at least one filter and all filters must be in "
    "our whitelist.",
    extra={
        "error": "invalid_filters_for_larger_scoped_webhooks",
        "user_message": "Webhooks on workspaces, teams and portfolios need filters from the allowed list.",
    },
)


def parse_filters(raw: Any, *, resource_type: str) -> list[dict[str, Any]]:
    """Validate filters from a request and return them with every key present (unset ones null).

    Args:
        raw: The `filters` value of the request's `data` (None when absent).
        resource_type: The type of the watched resource, for the larger-scope rules.

    Raises:
        ApiError: 400 for malformed filters, for `fields` without `action: changed`, and
            (`invalid_filters_for_larger_scoped_webhooks`) for workspace/team/portfolio webhooks
            without filters or with filters outside the allow-list.
    """
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ApiError(400, "filters: Value is not an array")
    filters = [_parse_one(index, item) for index, item in enumerate(raw)]
    if resource_type in LARGER_SCOPED_TYPES and not _allowed_on_larger_scope(filters):
        raise ApiError(
            _LARGER_SCOPE_ERROR.status, _LARGER_SCOPE_ERROR.message, extra=_LARGER_SCOPE_ERROR.extra
        )
    return filters


def matches(filters: Sequence[Mapping[str, Any]], event: Mapping[str, Any]) -> bool:
    """Whether an event passes a webhook's filters (any one filter suffices; no filters pass all)."""
    return not filters or any(_matches_one(flt, event) for flt in filters)


def _parse_one(index: int, item: Any) -> dict[str, Any]:
    where = f"filters[{index}]"
    if not isinstance(item, dict):
        raise ApiError(400, f"{where}: Value is not an object")
    parsed: dict[str, Any] = {}
    for key in ("resource_type", "resource_subtype", "action"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"{where}.{key}: Value is not a string")
        parsed[key] = value
    fields = item.get("fields")
    if fields is not None:
        if not isinstance(fields, list) or not all(isinstance(name, str) for name in fields):
            raise ApiError(400, f"{where}.fields: Value is not an array of strings")
        if parsed["action"] != "changed":
            raise ApiError(400, f"{where}.fields: Only valid when action is 'changed'")
    parsed["fields"] = fields
    return parsed


def _allowed_on_larger_scope(filters: Sequence[Mapping[str, Any]]) -> bool:
    if not filters:
        return False
    for flt in filters:
        actions = _ALLOWED_ON_LARGER_SCOPES.get(flt["resource_type"] or "")
        if actions is None or flt["action"] not in actions or flt["fields"] is not None:
            return False
    return True


def _matches_one(flt: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    resource = event.get("resource")
    resource = resource if isinstance(resource, Mapping) else {}
    change = event.get("change")
    change = change if isinstance(change, Mapping) else {}
    checks = (
        (flt.get("resource_type"), resource.get("resource_type")),
        (flt.get("resource_subtype"), resource.get("resource_subtype")),
        (flt.get("action"), event.get("action")),
    )
    if any(wanted is not None and wanted != actual for wanted, actual in checks):
        return False
    fields = flt.get("fields")
    return fields is None or change.get("field") in fields
