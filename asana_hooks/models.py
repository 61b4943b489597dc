"""Pydantic models for what Asana sends and accepts on the Webhooks API.

They are deliberately tolerant, because real Asana sends more than its spec says: unknown keys are
kept (``extra="allow"``), enum-like strings (``action``, ``resource_type``, ``resource_subtype``) stay
``str`` with the known values offered as constants, and every field Asana may omit or null is
optional. Timestamps accept ``null`` and ``""`` (seen on real webhook records) as "absent".
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "AsanaResource",
    "Change",
    "ErrorDetail",
    "Event",
    "EventAction",
    "FilterAction",
    "NamedResource",
    "NextPage",
    "ResourceType",
    "Webhook",
    "WebhookFilter",
]


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


#: A timestamp that may be absent, null, or an empty string on real webhook records.
OptionalTimestamp = Annotated[datetime | None, BeforeValidator(_blank_to_none)]


class EventAction(StrEnum):
    """Known values of ``Event.action`` (the action on the resource). Others may appear."""

    ADDED = "added"
    CHANGED = "changed"
    DELETED = "deleted"
    REMOVED = "removed"
    UNDELETED = "undeleted"


class FilterAction(StrEnum):
    """Known values of ``Change.action`` (the action on the field). Others may appear."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


class ResourceType(StrEnum):
    """Resource types that commonly produce webhook events. Others may appear."""

    ATTACHMENT = "attachment"
    PORTFOLIO = "portfolio"
    PROJECT = "project"
    PROJECT_MEMBERSHIP = "project_membership"
    SECTION = "section"
    STORY = "story"
    TAG = "tag"
    TASK = "task"
    TEAM = "team"
    TEAM_MEMBERSHIP = "team_membership"
    USER = "user"
    WEBHOOK = "webhook"
    WORKSPACE = "workspace"
    WORKSPACE_MEMBERSHIP = "workspace_membership"


class _Tolerant(BaseModel):
    """Base for wire models: keeps unknown keys, never rejects an extra field."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AsanaResource(_Tolerant):
    """A compact reference to any Asana object: ``{gid, resource_type, ...}``."""

    gid: str
    resource_type: str | None = None
    resource_subtype: str | None = None


class NamedResource(AsanaResource):
    """A compact reference with a ``name`` (``AsanaNamedResource`` in the spec)."""

    name: str | None = None


class WebhookFilter(_Tolerant):
    """One entry of a webhook's ``filters`` allow-list; an event passes if it matches any entry.

    Asana echoes unset keys as ``null``; those are omitted again when the filter is sent.
    """

    resource_type: str | None = None
    resource_subtype: str | None = None
    action: str | None = None
    fields: list[str] | None = None

    def to_request(self) -> dict[str, Any]:
        """The JSON object to send, without the keys that are unset or null."""
        return self.model_dump(mode="json", exclude_none=True)


class Webhook(_Tolerant):
    """A webhook record, compact (list) or full (get, create, update).

    Compact records carry only ``gid``, ``resource_type``, ``active``, ``resource`` and ``target``;
    the delivery fields are None there unless requested through ``opt_fields``.
    """

    gid: str
    resource_type: str | None = None
    active: bool | None = None
    resource: NamedResource | None = None
    # Not in repr: the target holds the receiver's unguessable path token.
    target: str | None = Field(default=None, repr=False)
    created_at: OptionalTimestamp = None
    last_success_at: OptionalTimestamp = None
    last_failure_at: OptionalTimestamp = None
    last_failure_content: str | None = None
    delivery_retry_count: int | None = None
    next_attempt_after: OptionalTimestamp = None
    failure_deletion_timestamp: OptionalTimestamp = None
    filters: list[WebhookFilter] | None = None
    #: Present in real responses although Asana's spec lacks it.
    is_workspace_webhook: bool | None = None


class Change(_Tolerant):
    """What changed, on events whose ``action`` is ``changed``."""

    field: str | None = None
    action: str | None = None
    new_value: Any = None
    added_value: Any = None
    removed_value: Any = None


_SOURCE_KEY = "_asana_hooks_source"


class Event(_Tolerant):
    """One event of a delivery. Compact: ids only; fetch the resource for its state.

    ``raw`` holds the event exactly as it was decoded from the delivery body (every key, unknown
    ones included), for callers that forward events verbatim.
    """

    action: str
    resource: AsanaResource
    user: AsanaResource | None = None
    created_at: OptionalTimestamp = None
    parent: AsanaResource | None = None
    change: Change | None = None
    type: str | None = Field(default=None, description="Deprecated by Asana; see resource.")

    @property
    def raw(self) -> dict[str, Any]:
        """The event as decoded from the body, or its dump when built by hand."""
        source: dict[str, Any] | None = self.__dict__.get(_SOURCE_KEY)
        if source is not None:
            return source
        return self.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Event:
        """Validate one decoded event and remember its original mapping."""
        event = cls.model_validate(raw)
        # Kept beside the fields rather than as a pydantic private attribute: private attributes
        # are initialised on every instance and made parsing a batch about 1.7x slower
        # (docs/benchmarks.md). Pydantic ignores the extra __dict__ key in dumps and equality.
        event.__dict__[_SOURCE_KEY] = raw
        return event


class NextPage(_Tolerant):
    """The ``next_page`` object of a paginated list."""

    offset: str
    path: str | None = None
    uri: str | None = None


class ErrorDetail(_Tolerant):
    """One object of an error response's ``errors`` array (extras such as ``error`` kept)."""

    message: str | None = None
    help: str | None = None
    phrase: str | None = None
