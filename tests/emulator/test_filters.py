"""Filter parsing and matching (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from asana_hooks.emulator.filters import matches, parse_filters
from asana_hooks.emulator.replies import ApiError

TASK_RENAMED = {
    "action": "changed",
    "resource": {"gid": "1", "resource_type": "task", "resource_subtype": "milestone"},
    "change": {"field": "name", "action": "changed"},
}


def test_no_filters_pass_everything() -> None:
    """A webhook without filters receives every event, odd ones included."""
    assert matches([], TASK_RENAMED)
    assert matches([], {"resource": None})


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"resource_type": "task"}, True),
        ({"resource_type": "story"}, False),
        ({"resource_subtype": "milestone"}, True),
        ({"resource_subtype": "default_task"}, False),
        ({"action": "changed", "fields": ["due_on", "name"]}, True),
        ({"action": "changed", "fields": ["due_on"]}, False),
        ({"action": "added"}, False),
    ],
)
def test_a_filter_passes_only_when_every_set_key_matches(flt: dict[str, Any], expected: bool) -> None:
    """Set keys must all match; unset (null) keys match anything."""
    [parsed] = parse_filters([flt], resource_type="project")
    assert matches([parsed], TASK_RENAMED) is expected


def test_any_one_passing_filter_is_enough() -> None:
    """Filters are a whitelist: one match suffices."""
    filters = parse_filters([{"resource_type": "story"}, {"action": "changed"}], resource_type="project")
    assert matches(filters, TASK_RENAMED)


def test_odd_events_never_crash_matching() -> None:
    """Null resources and changes simply fail typed filters."""
    filters = parse_filters(
        [{"resource_type": "task", "action": "changed", "fields": ["x"]}], resource_type="task"
    )
    assert not matches(filters, {"resource": None, "change": None, "action": "changed"})


def test_parsed_filters_carry_all_keys() -> None:
    """Missing keys come back as null; absent filters parse to an empty list on small scopes."""
    assert parse_filters(None, resource_type="task") == []
    assert parse_filters([{}], resource_type="task") == [
        {"resource_type": None, "resource_subtype": None, "action": None, "fields": None}
    ]


def test_the_larger_scope_error_keeps_its_machine_code() -> None:
    """The error object carries `error` and `user_message` besides the message."""
    with pytest.raises(ApiError) as caught:
        parse_filters([{"resource_type": "project"}], resource_type="team")
    assert caught.value.extra["error"] == "invalid_filters_for_larger_scoped_webhooks"
    assert "user_message" in caught.value.extra
