"""Decorator-based routing of webhook events to async handlers, and the Asana filters they imply.

A :class:`Router` holds routes: a handler plus what it wants (``resource_type``, ``action``,
``resource_subtype``, changed ``field``). Dispatching an event awaits every matching handler in
order. Because a router knows exactly which events it handles, :meth:`Router.filters` can derive the
``filters`` list to send when creating the webhook, so Asana delivers only what someone will handle.

Invariants:

* A key left ``None`` matches anything; a route with ``field`` matches only events whose ``change``
  names one of its fields, and implies ``action="changed"`` (Asana allows ``fields`` only there).
* Order is deterministic: a router's own routes in registration order, then each included router's
  (recursively, in inclusion order). A router reached twice through a diamond of includes is visited
  once, at its first place, so its handlers never run twice for one event.
* Includes form no cycle: including a router into itself or into a router it already reaches is
  refused.
* No I/O here: dispatch only awaits the handlers it was given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from asana_hooks.errors import InvalidRequestError
from asana_hooks.models import Event, EventAction, WebhookFilter

__all__ = ["Handler", "Router", "UnparsedHandler"]

#: An event handler: an async callable taking one event.
Handler = Callable[[Event], Awaitable[None]]

#: A handler for events that did not fit the event model, given as decoded from the body.
UnparsedHandler = Callable[[Any], Awaitable[None]]

U = TypeVar("U", bound=UnparsedHandler)

H = TypeVar("H", bound=Handler)

_CHANGED = EventAction.CHANGED.value


@dataclass(frozen=True, kw_only=True)
class _Route:
    """One registration: a handler and the event keys it needs (None = any)."""

    handler: Handler
    resource_type: str | None
    action: str | None
    resource_subtype: str | None
    fields: frozenset[str] | None

    def matches(self, event: Event) -> bool:
        if self.resource_type is not None and event.resource.resource_type != self.resource_type:
            return False
        if self.action is not None and event.action != self.action:
            return False
        if self.resource_subtype is not None and event.resource.resource_subtype != self.resource_subtype:
            return False
        if self.fields is None:
            return True
        return event.change is not None and event.change.field in self.fields


def _key(name: str, value: str | None) -> str | None:
    """Normalise a key to a plain ``str`` (StrEnum members included); refuse empty strings."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{name} must be a non-empty string or None")
    # str() turns a StrEnum member into its plain value, so filters serialise as bare strings.
    return str(value)


def _fields(field: str | Sequence[str] | None) -> frozenset[str] | None:
    if field is None:
        return None
    names = [field] if isinstance(field, str) else list(field)
    if not names:
        raise InvalidRequestError("field must name at least one field, or be None for any change")
    for name in names:
        _key("field", name)
    return frozenset(str(name) for name in names)


def _filter_sort_key(item: WebhookFilter) -> tuple[str, bool, str, bool, str, tuple[str, ...]]:
    # None sorts before any value, so broader filters come first within a resource type.
    return (
        item.resource_type or "",
        item.resource_subtype is not None,
        item.resource_subtype or "",
        item.action is not None,
        item.action or "",
        tuple(item.fields or ()),
    )


def _covers(broad: WebhookFilter, narrow: WebhookFilter) -> bool:
    """Whether every event passing ``narrow`` also passes ``broad``."""
    return (
        broad.resource_type == narrow.resource_type
        and broad.resource_subtype in (None, narrow.resource_subtype)
        and broad.action in (None, narrow.action)
        and (broad.fields is None or (narrow.fields is not None and set(narrow.fields) <= set(broad.fields)))
    )


class Router:
    """Routes webhook events to async handlers and derives the Asana filters they need.

    Example::

        router = Router()

        @router.on(ResourceType.TASK, field=["name", "notes"])
        async def renamed(event: Event) -> None: ...

        await router.dispatch_all(events)
        filters = router.filters()  # [WebhookFilter(resource_type="task", action="changed", ...)]

    Args:
        *routers: Routers to include, in this order (see :meth:`include`).

    Raises:
        InvalidRequestError: A router is given twice.
    """

    def __init__(self, *routers: Router) -> None:
        self._routes: list[_Route] = []
        self._unparsed: list[UnparsedHandler] = []
        self._included: list[Router] = []
        for router in routers:
            self.include(router)

    def __repr__(self) -> str:
        return f"<Router routes={len(self._routes)} included={len(self._included)}>"

    def on(
        self,
        resource_type: str | None = None,
        *,
        action: str | None = None,
        resource_subtype: str | None = None,
        field: str | Sequence[str] | None = None,
    ) -> Callable[[H], H]:
        """Register the decorated handler; the function is returned unchanged.

        Args:
            resource_type: ``event.resource.resource_type`` to match (``"task"``,
                ``ResourceType.TASK``), or None for any.
            action: ``event.action`` to match (``"added"``, ``EventAction.ADDED``), or None for any;
                ``"changed"`` is implied when ``field`` is given.
            resource_subtype: ``event.resource.resource_subtype`` to match (``"milestone"``), or
                None for any.
            field: A field name or several; the event must be a change of one of them
                (``event.change.field``). None matches events with or without a change.

        Returns:
            A decorator that registers its function and returns it as is.

        Raises:
            InvalidRequestError: ``field`` is given with an action other than ``"changed"``, or a
                key is empty.
        """

        def register(handler: H) -> H:
            self.add(handler, resource_type, action=action, resource_subtype=resource_subtype, field=field)
            return handler

        return register

    def add(
        self,
        handler: Handler,
        resource_type: str | None = None,
        *,
        action: str | None = None,
        resource_subtype: str | None = None,
        field: str | Sequence[str] | None = None,
    ) -> None:
        """Register ``handler`` for the events described by the keys; see :meth:`on`.

        Raises:
            InvalidRequestError: ``field`` is given with an action other than ``"changed"``, or a
                key is empty.
        """
        fields = _fields(field)
        action_key = _key("action", action)
        if fields is not None:
            # Mirrors Asana: a filter's ``fields`` is only valid with action ``changed``.
            if action_key is None:
                action_key = _CHANGED
            elif action_key != _CHANGED:
                raise InvalidRequestError(f"field can only be used with action 'changed', not {action_key!r}")
        self._routes.append(
            _Route(
                handler=handler,
                resource_type=_key("resource_type", resource_type),
                action=action_key,
                resource_subtype=_key("resource_subtype", resource_subtype),
                fields=fields,
            )
        )

    def include(self, router: Router) -> None:
        """Add another router's routes after this one's (and after routers included earlier).

        Later registrations on ``router`` are seen too: it is included by reference.

        Raises:
            InvalidRequestError: ``router`` is this router, already reaches this router (a cycle),
                or is already included directly.
        """
        if router is self or any(reached is self for reached in router._walk()):
            raise InvalidRequestError("including this router would create a cycle")
        if any(included is router for included in self._included):
            raise InvalidRequestError("that router is already included")
        self._included.append(router)

    def _walk(self) -> Iterator[Router]:
        """This router and every router it reaches, depth-first, each once."""
        seen: set[Router] = set()
        stack: list[Router] = [self]
        while stack:
            router = stack.pop()
            if router in seen:
                continue
            seen.add(router)
            yield router
            stack.extend(reversed(router._included))

    def _all_routes(self) -> Iterator[_Route]:
        for router in self._walk():
            yield from router._routes

    def handlers_for(self, event: Event) -> list[Handler]:
        """The handlers matching ``event``, in dispatch order.

        The order is this router's own registrations first, in registration order, then each
        included router's handlers (recursively, in inclusion order). A handler registered twice
        with matching keys appears twice.
        """
        return [route.handler for route in self._all_routes() if route.matches(event)]

    async def _run(self, event: Event, errors: list[Exception]) -> int:
        handlers = self.handlers_for(event)
        for handler in handlers:
            try:
                await handler(event)
            except Exception as exc:  # one failing handler must not starve the others
                errors.append(exc)
        return len(handlers)

    async def dispatch(self, event: Event) -> int:
        """Await every handler matching ``event``, one after another, in :meth:`handlers_for` order.

        Returns:
            How many handlers ran (0 when none matched).

        Raises:
            Exception: The error of the one handler that failed, after the others ran.
            ExceptionGroup: The errors of the handlers that failed, when several did.
        """
        errors: list[Exception] = []
        count = await self._run(event, errors)
        _raise_collected(errors)
        return count

    async def dispatch_all(self, events: Iterable[Event]) -> int:
        """Dispatch each event in turn; a failing handler stops neither the others nor later events.

        Returns:
            How many handler calls ran over all events.

        Raises:
            Exception: The one handler error, after every event was dispatched.
            ExceptionGroup: All handler errors, in order, when there were several.
        """
        errors: list[Exception] = []
        count = 0
        for event in events:
            count += await self._run(event, errors)
        _raise_collected(errors)
        return count

    def on_unparsed(self, handler: U) -> U:
        """Register ``handler`` for events that did not fit the event model (a decorator).

        Such events (no ``action``, a ``resource`` without ``gid``...) cannot be routed by type,
        and Asana will not send them again once acknowledged: give them somewhere to go.
        """
        self._unparsed.append(handler)
        return handler

    async def dispatch_unparsed(self, items: Iterable[Any]) -> int:
        """Give each unparsed event to every :meth:`on_unparsed` handler (own, then included).

        Returns:
            How many handler calls ran (0 when no router here has such a handler).

        Raises:
            Exception: The one handler error, after every item was handed over.
            ExceptionGroup: All handler errors, in order, when there were several.
        """
        handlers = [handler for router in self._walk() for handler in router._unparsed]
        errors: list[Exception] = []
        count = 0
        for item in items:
            for handler in handlers:
                count += 1
                try:
                    await handler(item)
                except Exception as exc:  # one failing handler must not starve the others
                    errors.append(exc)
        _raise_collected(errors)
        return count

    def filters(self) -> list[WebhookFilter] | None:
        """The ``filters`` to create the webhook with, so Asana sends only what is handled.

        One filter per (resource_type, resource_subtype, action) of the routes, included routers'
        too; its ``fields`` is the sorted union of the routes' fields, or absent when one route of
        the group wants any change. Filters implied by a broader one are dropped (for example
        ``task``/``changed``/``["name"]`` beside ``task`` with any action). The list is sorted.

        Returns:
            The filters, an empty list when there are no routes, or None when a route has no
            ``resource_type``: such a catch-all needs every event, so subscribe without filters.
        """
        groups: dict[tuple[str, str | None, str | None], set[str] | None] = {}
        for route in self._all_routes():
            if route.resource_type is None:
                return None
            group = (route.resource_type, route.resource_subtype, route.action)
            if route.fields is None or (group in groups and groups[group] is None):
                groups[group] = None  # one route wanting any change makes the group field-less
            else:
                groups[group] = (groups.get(group) or set()) | route.fields
        candidates = [
            WebhookFilter(
                resource_type=resource_type,
                resource_subtype=resource_subtype,
                action=action,
                fields=None if fields is None else sorted(fields),
            )
            for (resource_type, resource_subtype, action), fields in groups.items()
        ]
        kept = [
            item
            for item in candidates
            if not any(other is not item and _covers(other, item) for other in candidates)
        ]
        return sorted(kept, key=_filter_sort_key)


def _raise_collected(errors: list[Exception]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup(f"{len(errors)} event handlers failed", errors)
