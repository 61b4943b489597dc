"""Routing events to handlers, composing routers, and deriving Asana filters from the routes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asana_hooks.errors import InvalidRequestError
from asana_hooks.models import Event, EventAction, ResourceType, WebhookFilter
from asana_hooks.routing import Handler, Router
from tests import oas

pytestmark = pytest.mark.anyio

#: Body ``B_EV`` of the shared webhook cases, byte for byte.
B_EV = (
    b'{"events":[{"user":{"gid":"4000000000000001","resource_type":"user"},'
    b'"created_at":"2024-03-05T10:15:00.000Z","action":"changed","resource":{"gid":"4000000000000002",'
    b'"resource_type":"task","resource_subtype":"default_task"},"parent":null,'
    b'"change":{"field":"name","action":"changed"}}]}'
)


def b_ev_event() -> Event:
    """The single event of ``B_EV``, decoded as the receiver decodes it."""
    events: list[dict[str, Any]] = json.loads(B_EV)["events"]
    return Event.from_raw(events[0])


def event(
    action: str,
    resource_type: str,
    resource_subtype: str | None = None,
    field: str | None = None,
) -> Event:
    """An event from a raw dict shaped like Asana's (change present only when ``field`` is given)."""
    resource: dict[str, Any] = {"gid": "4000000000000002", "resource_type": resource_type}
    if resource_subtype is not None:
        resource["resource_subtype"] = resource_subtype
    raw: dict[str, Any] = {
        "user": {"gid": "4000000000000001", "resource_type": "user"},
        "created_at": "2024-03-05T10:15:00.000Z",
        "action": action,
        "resource": resource,
        "parent": None,
    }
    if field is not None:
        raw["change"] = {"field": field, "action": "changed"}
    return Event.from_raw(raw)


class Recorder:
    """Makes handlers that record, in one shared list, which of them ran and in what order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def handler(self, name: str, error: BaseException | None = None) -> Handler:
        async def handle(event: Event) -> None:
            self.calls.append(name)
            if error is not None:
                raise error

        handle.__name__ = name
        return handle


def names(handlers: list[Handler]) -> list[str]:
    """The names of handlers made by :class:`Recorder`."""
    return [h.__name__ for h in handlers]


# --- matching -------------------------------------------------------------------------------------


def test_b_ev_event_reaches_a_task_name_change_handler() -> None:
    """The real ``B_EV`` event matches a handler for task name changes of default tasks."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("named"), "task", action="changed", resource_subtype="default_task", field="name")
    router.add(rec.handler("notes"), "task", field="notes")
    assert names(router.handlers_for(b_ev_event())) == ["named"]


def test_resource_type_selects_events_of_that_type_only() -> None:
    """A handler for ``task`` sees task events and not story events."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("task"), "task")
    assert names(router.handlers_for(event("added", "task"))) == ["task"]
    assert router.handlers_for(event("added", "story")) == []


def test_action_selects_events_with_that_action_only() -> None:
    """A handler for ``added`` sees added events and not deleted ones."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("added"), action="added")
    assert names(router.handlers_for(event("added", "story"))) == ["added"]
    assert router.handlers_for(event("deleted", "story")) == []


def test_resource_subtype_selects_events_of_that_subtype_only() -> None:
    """A milestone handler ignores default tasks and events without a subtype."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("milestone"), "task", resource_subtype="milestone")
    assert names(router.handlers_for(event("added", "task", "milestone"))) == ["milestone"]
    assert router.handlers_for(event("added", "task", "default_task")) == []
    assert router.handlers_for(event("added", "task")) == []


def test_field_selects_changes_of_that_field_only() -> None:
    """A field handler needs a change of one of its fields; other fields and no change do not match."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("dates"), "task", field=["due_on", "due_at"])
    assert names(router.handlers_for(event("changed", "task", field="due_at"))) == ["dates"]
    assert names(router.handlers_for(event("changed", "task", field="due_on"))) == ["dates"]
    assert router.handlers_for(event("changed", "task", field="name")) == []
    assert router.handlers_for(event("changed", "task")) == []


def test_field_implies_the_changed_action() -> None:
    """A field handler without an action does not match a non-``changed`` event naming that field."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("name"), "task", field="name")
    assert router.handlers_for(event("added", "task", field="name")) == []


def test_a_handler_without_keys_sees_every_event() -> None:
    """Keys left None match anything, change or no change."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("all"))
    for each in (b_ev_event(), event("added", "story"), event("removed", "project", "board")):
        assert names(router.handlers_for(each)) == ["all"]


def test_every_given_key_must_match() -> None:
    """With all four keys set, changing any one of the event's values stops the match."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("h"), "task", action="changed", resource_subtype="milestone", field="name")
    assert names(router.handlers_for(event("changed", "task", "milestone", "name"))) == ["h"]
    assert router.handlers_for(event("changed", "section", "milestone", "name")) == []
    assert router.handlers_for(event("undeleted", "task", "milestone", "name")) == []
    assert router.handlers_for(event("changed", "task", "default_task", "name")) == []
    assert router.handlers_for(event("changed", "task", "milestone", "notes")) == []


def test_string_enums_work_as_keys_and_become_plain_strings_in_filters() -> None:
    """ResourceType and EventAction members match like their values and serialise as bare strings."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("h"), ResourceType.TASK, action=EventAction.CHANGED)
    assert names(router.handlers_for(b_ev_event())) == ["h"]
    [derived] = router.filters() or []
    assert type(derived.resource_type) is str
    assert type(derived.action) is str
    assert derived.to_request() == {"resource_type": "task", "action": "changed"}


def test_on_registers_and_returns_the_function_unchanged() -> None:
    """The decorator hands back the very function it was given, now registered."""
    router = Router()
    seen: list[Event] = []

    async def renamed(event: Event) -> None:
        seen.append(event)

    assert router.on("task", field="name")(renamed) is renamed
    assert router.handlers_for(b_ev_event()) == [renamed]


# --- order and composition ------------------------------------------------------------------------


def test_handlers_come_in_registration_order() -> None:
    """Matching handlers are listed in the order they were registered."""
    router = Router()
    rec = Recorder()
    for name in ("c", "a", "b"):
        router.add(rec.handler(name), "task")
    assert names(router.handlers_for(event("added", "task"))) == ["c", "a", "b"]


def test_own_handlers_come_before_included_ones_in_inclusion_order() -> None:
    """A router's own handlers run first, then each included router's, nested depth-first."""
    rec = Recorder()
    leaf, left, right = Router(), Router(), Router()
    leaf.add(rec.handler("leaf"), "task")
    left.add(rec.handler("left"), "task")
    left.include(leaf)
    right.add(rec.handler("right"), "task")
    root = Router(left, right)
    root.add(rec.handler("root"), "task")
    assert names(root.handlers_for(event("added", "task"))) == ["root", "left", "leaf", "right"]


def test_an_included_router_is_used_by_reference() -> None:
    """Handlers registered on a router after its inclusion are seen by the including router."""
    rec = Recorder()
    child = Router()
    root = Router(child)
    child.add(rec.handler("late"), "task")
    assert names(root.handlers_for(event("added", "task"))) == ["late"]


def test_a_router_reached_twice_runs_its_handlers_once() -> None:
    """In a diamond of includes the shared router is visited once, at its first place."""
    rec = Recorder()
    shared, left, right = Router(), Router(), Router()
    shared.add(rec.handler("shared"), "task")
    left.include(shared)
    right.add(rec.handler("right"), "task")
    right.include(shared)
    root = Router(left, right)
    assert names(root.handlers_for(event("added", "task"))) == ["shared", "right"]


def test_including_a_router_into_itself_is_refused() -> None:
    """A router cannot include itself."""
    router = Router()
    with pytest.raises(InvalidRequestError, match="cycle"):
        router.include(router)


def test_including_an_ancestor_is_refused() -> None:
    """Including a router that already reaches this one, however deep, is refused as a cycle."""
    bottom = Router()
    middle = Router(bottom)
    top = Router(middle)
    with pytest.raises(InvalidRequestError, match="cycle"):
        bottom.include(top)
    with pytest.raises(InvalidRequestError, match="cycle"):
        middle.include(top)
    assert names(top.handlers_for(event("added", "task"))) == []


def test_including_the_same_router_twice_is_refused() -> None:
    """A direct duplicate include is an error, whether by include() or the constructor."""
    child = Router()
    parent = Router(child)
    with pytest.raises(InvalidRequestError, match="already included"):
        parent.include(child)
    with pytest.raises(InvalidRequestError, match="already included"):
        Router(child, child)


# --- dispatch -------------------------------------------------------------------------------------


async def test_dispatch_awaits_matching_handlers_in_order_and_counts_them() -> None:
    """dispatch runs each matching handler once, in order, and returns how many ran."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("first"), "task")
    router.add(rec.handler("story"), "story")
    router.add(rec.handler("second"), action="changed")
    assert await router.dispatch(b_ev_event()) == 2
    assert rec.calls == ["first", "second"]


async def test_dispatch_passes_the_event_itself() -> None:
    """The handler receives the dispatched event object, raw mapping intact."""
    router = Router()
    received: list[Event] = []

    @router.on("task")
    async def keep(event: Event) -> None:
        received.append(event)

    ev = b_ev_event()
    await router.dispatch(ev)
    assert received == [ev]
    assert received[0].raw["parent"] is None


async def test_dispatch_without_a_match_runs_nothing() -> None:
    """An event nobody handles yields 0 and calls nothing."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("story"), "story")
    assert await router.dispatch(b_ev_event()) == 0
    assert rec.calls == []


async def test_dispatch_all_counts_handler_calls_over_all_events() -> None:
    """dispatch_all dispatches every event in order and sums the handlers that ran."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("task"), "task")
    router.add(rec.handler("any"))
    events = [event("added", "task"), event("added", "story"), event("deleted", "task")]
    assert await router.dispatch_all(events) == 5
    assert rec.calls == ["task", "any", "any", "task", "any"]


async def test_one_failing_handler_lets_the_others_run_then_its_error_is_raised() -> None:
    """A handler error does not stop later handlers; afterwards that same error is raised as is."""
    router = Router()
    rec = Recorder()
    boom = RuntimeError("boom")
    router.add(rec.handler("first"), "task")
    router.add(rec.handler("fails", boom), "task")
    router.add(rec.handler("last"), "task")
    with pytest.raises(RuntimeError) as caught:
        await router.dispatch(b_ev_event())
    assert caught.value is boom
    assert rec.calls == ["first", "fails", "last"]


async def test_several_failing_handlers_raise_an_exception_group_in_order() -> None:
    """Two handler errors come out together as an ExceptionGroup, in dispatch order."""
    router = Router()
    rec = Recorder()
    first, second = KeyError("k"), ValueError("v")
    router.add(rec.handler("a", first), "task")
    router.add(rec.handler("b"), "task")
    router.add(rec.handler("c", second), "task")
    with pytest.raises(ExceptionGroup) as caught:
        await router.dispatch(b_ev_event())
    assert list(caught.value.exceptions) == [first, second]
    assert rec.calls == ["a", "b", "c"]


async def test_dispatch_all_keeps_going_after_a_failure_and_groups_errors_across_events() -> None:
    """A failure on one event neither skips later events nor hides their failures."""
    router = Router()
    rec = Recorder()
    first, second = RuntimeError("on added"), RuntimeError("on deleted")
    router.add(rec.handler("added", first), "task", action="added")
    router.add(rec.handler("deleted", second), "task", action="deleted")
    router.add(rec.handler("any"), "task")
    events = [event("added", "task"), event("changed", "task"), event("deleted", "task")]
    with pytest.raises(ExceptionGroup) as caught:
        await router.dispatch_all(events)
    assert list(caught.value.exceptions) == [first, second]
    assert rec.calls == ["added", "any", "any", "deleted", "any"]


async def test_dispatch_all_raises_a_single_error_as_is() -> None:
    """One failure over many events is raised unwrapped, after every event ran."""
    router = Router()
    rec = Recorder()
    boom = RuntimeError("boom")
    router.add(rec.handler("fails", boom), "task", action="added")
    router.add(rec.handler("any"), "task")
    with pytest.raises(RuntimeError) as caught:
        await router.dispatch_all([event("added", "task"), event("deleted", "task")])
    assert caught.value is boom
    assert rec.calls == ["fails", "any", "any"]


async def test_a_base_exception_stops_dispatch_at_once() -> None:
    """Only Exceptions are collected: a BaseException (cancellation, exit) propagates immediately."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("exits", SystemExit(3)), "task")
    router.add(rec.handler("never"), "task")
    with pytest.raises(SystemExit):
        await router.dispatch(b_ev_event())
    assert rec.calls == ["exits"]


# --- registration errors --------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["added", "removed", "deleted", "undeleted", EventAction.ADDED])
def test_field_with_an_action_other_than_changed_is_refused(action: str) -> None:
    """As in Asana, ``fields`` goes only with action ``changed``; nothing is registered otherwise."""
    router = Router()
    rec = Recorder()
    with pytest.raises(InvalidRequestError, match="changed"):
        router.add(rec.handler("h"), "task", action=action, field="name")
    with pytest.raises(ValueError, match="changed"):
        router.on("task", action=action, field=["name"])(rec.handler("h"))
    assert router.filters() == []


def test_field_with_the_changed_action_is_accepted() -> None:
    """Giving action ``changed`` explicitly next to a field is the same as leaving it implied."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("h"), "task", action="changed", field="name")
    assert names(router.handlers_for(b_ev_event())) == ["h"]


@pytest.mark.parametrize(
    "keys",
    [
        {"resource_type": ""},
        {"action": ""},
        {"resource_subtype": ""},
        {"field": ""},
        {"field": []},
        {"field": ["name", ""]},
        {"resource_type": 3},
    ],
)
def test_empty_or_non_string_keys_are_refused(keys: dict[str, Any]) -> None:
    """Empty strings, empty field lists and non-strings never become routes that match nothing."""
    router = Router()
    rec = Recorder()
    with pytest.raises(InvalidRequestError):
        router.add(rec.handler("h"), **keys)
    assert router.filters() == []


def test_repr_counts_routes_and_includes() -> None:
    """The repr says how many routes and included routers there are."""
    router = Router(Router())
    router.add(Recorder().handler("h"), "task")
    assert repr(router) == "<Router routes=1 included=1>"


# --- filters --------------------------------------------------------------------------------------


def test_a_router_without_routes_needs_no_events() -> None:
    """No routes: an empty filter list."""
    assert Router().filters() == []


def test_fields_of_one_group_are_merged_sorted_and_deduplicated() -> None:
    """Handlers of one (type, subtype, action) share one filter with the sorted union of fields."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("a"), "task", field=["notes", "name"])
    router.add(rec.handler("b"), "task", action="changed", field=("name", "due_on"))
    router.add(rec.handler("c"), "task", field="name")
    assert router.filters() == [
        WebhookFilter(resource_type="task", action="changed", fields=["due_on", "name", "notes"])
    ]


@pytest.mark.parametrize("first_without_fields", [True, False])
def test_a_handler_wanting_any_change_drops_the_groups_fields(first_without_fields: bool) -> None:
    """One handler of the group with no field restriction removes ``fields``, in either order."""
    router = Router()
    rec = Recorder()
    registrations: list[dict[str, Any]] = [{"action": "changed"}, {"field": "name"}]
    if not first_without_fields:
        registrations.reverse()
    for keys in [*registrations, {"field": "notes"}]:
        router.add(rec.handler("h"), "task", **keys)
    assert router.filters() == [WebhookFilter(resource_type="task", action="changed")]


def test_filters_for_several_types_actions_and_subtypes() -> None:
    """Each group gets its own filter; the list is sorted, unset keys first."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("a"), "task", resource_subtype="milestone", field="due_on")
    router.add(rec.handler("b"), "story", action="added")
    router.add(rec.handler("c"), "task", action="added")
    router.add(rec.handler("d"), "task", field="name")
    router.add(rec.handler("e"), "project", action=EventAction.DELETED)
    router.add(rec.handler("f"), "project", action="undeleted")
    assert router.filters() == [
        WebhookFilter(resource_type="project", action="deleted"),
        WebhookFilter(resource_type="project", action="undeleted"),
        WebhookFilter(resource_type="story", action="added"),
        WebhookFilter(resource_type="task", action="added"),
        WebhookFilter(resource_type="task", action="changed", fields=["name"]),
        WebhookFilter(
            resource_type="task", resource_subtype="milestone", action="changed", fields=["due_on"]
        ),
    ]


def test_a_handler_without_action_gives_a_filter_without_action_that_absorbs_narrower_ones() -> None:
    """A type-only route yields an any-action filter; filters it already covers are left out."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("a"), "task", field="name")
    router.add(rec.handler("b"), "task", resource_subtype="milestone", action="added")
    router.add(rec.handler("c"), "task")
    router.add(rec.handler("d"), "section", resource_subtype="x", field="name")
    router.add(rec.handler("e"), "section", resource_subtype="x")
    router.add(rec.handler("f"), "section", action="changed", field="name")
    assert router.filters() == [
        WebhookFilter(resource_type="section", action="changed", fields=["name"]),
        WebhookFilter(resource_type="section", resource_subtype="x"),
        WebhookFilter(resource_type="task"),
    ]


def test_a_broader_field_list_absorbs_a_subset_but_not_an_overlap() -> None:
    """Fields ``[name]`` on milestones is covered by ``[name, notes]`` on any task; ``[due_on]`` is not."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("a"), "task", field=["name", "notes"])
    router.add(rec.handler("b"), "task", resource_subtype="milestone", field="name")
    router.add(rec.handler("c"), "task", resource_subtype="approval", field=["name", "due_on"])
    assert router.filters() == [
        WebhookFilter(resource_type="task", action="changed", fields=["name", "notes"]),
        WebhookFilter(
            resource_type="task", resource_subtype="approval", action="changed", fields=["due_on", "name"]
        ),
    ]


def test_included_routers_filters_are_merged() -> None:
    """Filters of included routers, nested too, join the including router's and merge by group."""
    rec = Recorder()
    tasks, stories, memberships = Router(), Router(), Router()
    tasks.add(rec.handler("a"), "task", field="name")
    stories.add(rec.handler("b"), "story", action="added")
    stories.include(tasks)
    memberships.add(rec.handler("c"), "team_membership", action="removed")
    memberships.add(rec.handler("d"), "team_membership", action="added")
    root = Router(stories, memberships)
    root.add(rec.handler("e"), "task", field="notes")
    assert root.filters() == [
        WebhookFilter(resource_type="story", action="added"),
        WebhookFilter(resource_type="task", action="changed", fields=["name", "notes"]),
        WebhookFilter(resource_type="team_membership", action="added"),
        WebhookFilter(resource_type="team_membership", action="removed"),
    ]
    assert tasks.filters() == [WebhookFilter(resource_type="task", action="changed", fields=["name"])]


@pytest.mark.parametrize(
    "catch_all",
    [{}, {"action": "added"}, {"resource_subtype": "milestone"}, {"field": "name"}],
)
def test_a_handler_without_resource_type_means_no_filters(catch_all: dict[str, Any]) -> None:
    """A route without resource_type needs every event, so filters() is None, even when included."""
    rec = Recorder()
    child = Router()
    child.add(rec.handler("h"), **catch_all)
    root = Router(child)
    root.add(rec.handler("t"), "task", field="name")
    assert child.filters() is None
    assert root.filters() is None


def test_derived_filters_are_wire_ready_requests(spec_available: None) -> None:
    """Each derived filter serialises to an object that fits Asana's WebhookFilter schema."""
    router = Router()
    rec = Recorder()
    router.add(rec.handler("a"), ResourceType.TASK, resource_subtype="milestone", field=["due_on", "due_at"])
    router.add(rec.handler("b"), ResourceType.PROJECT)
    requests = [item.to_request() for item in router.filters() or []]
    assert requests == [
        {"resource_type": "project"},
        {
            "resource_type": "task",
            "resource_subtype": "milestone",
            "action": "changed",
            "fields": ["due_at", "due_on"],
        },
    ]
    for request in requests:
        oas.validate_schema("WebhookFilter", request)


async def test_unparsed_events_go_to_on_unparsed_handlers_of_every_included_router() -> None:
    """Items that did not fit the event model reach each on_unparsed handler, own router's first."""
    seen: list[tuple[str, object]] = []
    inner = Router()
    outer = Router(inner)

    @outer.on_unparsed
    async def first(item: object) -> None:
        seen.append(("outer", item))

    @inner.on_unparsed
    async def second(item: object) -> None:
        seen.append(("inner", item))

    assert await outer.dispatch_unparsed([{"foo": 1}, 7]) == 4
    assert seen == [("outer", {"foo": 1}), ("inner", {"foo": 1}), ("outer", 7), ("inner", 7)]


async def test_without_on_unparsed_handlers_nothing_runs() -> None:
    """dispatch_unparsed reports 0 calls when no router registered a handler, so callers can warn."""
    assert await Router().dispatch_unparsed([{"foo": 1}]) == 0


async def test_a_failing_unparsed_handler_does_not_starve_the_others() -> None:
    """Every unparsed handler runs, then the error is raised."""
    seen: list[object] = []
    router = Router()

    @router.on_unparsed
    async def broken(item: object) -> None:
        raise RuntimeError("boom")

    @router.on_unparsed
    async def fine(item: object) -> None:
        seen.append(item)

    with pytest.raises(RuntimeError, match="boom"):
        await router.dispatch_unparsed([1])
    assert seen == [1]
    with pytest.raises(ExceptionGroup) as group:
        await router.dispatch_unparsed([2, 3])
    assert len(group.value.exceptions) == 2
    assert seen == [1, 2, 3]
