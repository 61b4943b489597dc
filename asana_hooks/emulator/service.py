"""`Emulator`: a local Asana REST API for webhooks, served by aiohttp on loopback.

It answers Asana's webhook routes (create with a real handshake, list, get, update, delete) and a
few routes of the surrounding world (users, workspaces, projects, tasks, comments) whose changes
produce webhook events, with Asana's envelopes, error shapes, pagination, `opt_fields`,
`opt_pretty`, per-token rate limits and injectable faults.

Unknown resource gids in a create body get 400 ``resource: Not a recognized ID: <gid>`` (Asana's
input-validation style); unknown gids in a path get 404 ``Unknown object: <gid>``. A failed
handshake gets 400 ``Webhook handshake failed: <why>.`` (Asana documents no exact status).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlencode

import aiohttp
import anyio
from aiohttp import web
from anyio.abc import TaskGroup

from asana_hooks.emulator.clock import Clock, SystemClock, isoformat
from asana_hooks.emulator.dispatcher import DUPLICATE_MESSAGE, DeliveryRecord, Dispatcher
from asana_hooks.emulator.faults import Faults
from asana_hooks.emulator.filters import parse_filters
from asana_hooks.emulator.rate_limiter import RateLimiter
from asana_hooks.emulator.replies import RATE_LIMITED, ApiError, json_response
from asana_hooks.emulator.targets import check_target
from asana_hooks.emulator.webhooks import Webhook
from asana_hooks.emulator.world import Occurrence, Project, Task, World

__all__ = ["API_PREFIX", "Emulator"]

_E = TypeVar("_E")

logger = logging.getLogger("asana_hooks.emulator")

API_PREFIX = "/api/1.0"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Emulator:
    """A local Asana for webhooks; use it as an async context manager (or `start()`/`aclose()`).

    `start()` and `aclose()` must run in the same task (the emulator owns a task group).

    Args:
        host: Interface to bind (loopback by default).
        port: Port to bind; 0 picks a free one (read `base_url` after starting).
        token: The one bearer token accepted; a random one is generated when omitted.
        strict: Refuse loopback/private/localhost targets with 403, as Asana does.
        clock: Time source for timestamps, retries, heartbeats, deletion and the rate-limit window.
        batch_window: Seconds (real time) events are collected per webhook before one delivery.
        handshake_timeout: Seconds (real time) the target has to answer the handshake.
        delivery_timeout: Seconds (real time) the target has to answer a delivery.
        rate_limit_per_minute: Requests per minute for the token; rejected ones count too.
        seed: Create the seeded world (a workspace, user "me", a team, a portfolio, two projects,
            two tasks).

    Attributes:
        token: The accepted token (redacted in `repr`).
        world: The in-memory Asana objects.
        faults: Fault injection.
        deliveries: Every delivery attempt (heartbeats included), in order.
        handshakes: Every handshake sent, in order.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        strict: bool = False,
        clock: Clock | None = None,
        batch_window: float = 0.05,
        handshake_timeout: float = 10.0,
        delivery_timeout: float = 10.0,
        rate_limit_per_minute: int = 1500,
        seed: bool = True,
    ) -> None:
        self._host = host
        self._port = port
        self.token = token if token else secrets.token_urlsafe(32)
        self.strict = strict
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.faults = Faults()
        self.world = World(now=lambda: isoformat(self.clock.now()), seed=seed)
        self._limiter = RateLimiter(
            clock=self.clock,
            per_minute=rate_limit_per_minute,
            write_retry_after=max(1, round(handshake_timeout)),
        )
        self._dispatcher = Dispatcher(
            clock=self.clock,
            faults=self.faults,
            batch_window=batch_window,
            handshake_timeout=handshake_timeout,
            delivery_timeout=delivery_timeout,
        )
        # Offset tokens of GET /webhooks: opaque, and only valid for the query that produced them.
        self._offsets: dict[str, tuple[str, str | None, str]] = {}
        self._base_url: str | None = None
        self._stack: AsyncExitStack | None = None
        self._runner: web.AppRunner | None = None
        self._task_group: TaskGroup | None = None
        self._app = self._build_app()

    # -- public surface ------------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The aiohttp application, to serve or mount elsewhere.

        Creating webhooks and delivering events need the emulator started (its task group and
        client session); every other route works on the bare application.
        """
        return self._app

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/api/1.0`` once started.

        Raises:
            RuntimeError: Before `start()`.
        """
        if self._base_url is None:
            raise RuntimeError("the emulator is not started")
        return self._base_url

    @property
    def deliveries(self) -> list[DeliveryRecord]:
        """Every delivery attempt so far (heartbeats included), oldest first."""
        return self._dispatcher.deliveries

    @property
    def handshakes(self) -> list[DeliveryRecord]:
        """Every handshake sent so far, oldest first."""
        return self._dispatcher.handshakes

    @property
    def webhooks(self) -> Mapping[str, Webhook]:
        """The live webhooks by gid (read-only view for assertions)."""
        return MappingProxyType(self._dispatcher.webhooks)

    def emit(self, event: Mapping[str, Any], *, webhook_gid: str | None = None) -> int:
        """Queue a raw event (odd ones welcome) for delivery; return how many webhooks get it.

        Without `webhook_gid`, every webhook on the event's resource, its parent, or one of their
        containers receives it when its filters pass. With `webhook_gid`, that webhook alone
        receives it, filters ignored.

        Raises:
            TypeError: If the event is not JSON-serialisable.
            KeyError: If `webhook_gid` names no live webhook.
            RuntimeError: Before `start()`.
        """
        copied: dict[str, Any] = json.loads(json.dumps(dict(event)))
        if webhook_gid is not None and webhook_gid not in self._dispatcher.webhooks:
            raise KeyError(f"no webhook {webhook_gid}")
        return self._dispatcher.publish(copied, self.world.scopes_of(copied), only=webhook_gid)

    async def wait_idle(self) -> None:
        """Wait until no delivery is queued, in flight or due now (later retries don't count)."""
        await self._dispatcher.wait_idle()

    async def start(self) -> None:
        """Bind, start serving and start the background work."""
        if self._stack is not None:
            raise RuntimeError("the emulator is already started")
        stack = AsyncExitStack()
        try:
            # No cookie jar: Asana does not send back cookies a receiver sets.
            session = await stack.enter_async_context(
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
            )
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._dispatcher.attach(session, self._task_group)
            runner = web.AppRunner(self._app, shutdown_timeout=1.0, access_log=None)
            await runner.setup()
            self._runner = runner
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await self._shutdown(stack)
            raise
        self._stack = stack
        address = runner.addresses[0]
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self._base_url = f"http://{host}:{address[1]}{API_PREFIX}"
        logger.info("Asana emulator serving at %s", self._base_url)

    async def aclose(self) -> None:
        """Stop serving and cancel the background work (idempotent)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await self._shutdown(stack)

    async def _shutdown(self, stack: AsyncExitStack) -> None:
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            self._dispatcher.detach()
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
            self._task_group = None
            await stack.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"Emulator(base_url={where!r}, strict={self.strict}, token=<redacted>)"

    # -- application ---------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = [
            web.post("/webhooks", self._create_webhook),
            web.get("/webhooks", self._list_webhooks),
            web.get("/webhooks/{gid}", self._get_webhook),
            web.put("/webhooks/{gid}", self._update_webhook),
            web.delete("/webhooks/{gid}", self._delete_webhook),
            web.get("/users/me", self._get_me),
            web.get("/workspaces", self._list_workspaces),
            web.get("/projects", self._list_projects),
            web.post("/projects", self._create_project),
            web.get("/projects/{gid}", self._get_project),
            web.post("/tasks", self._create_task),
            web.get("/tasks/{gid}", self._get_task),
            web.put("/tasks/{gid}", self._update_task),
            web.delete("/tasks/{gid}", self._delete_task),
            web.post("/tasks/{gid}/addProject", self._add_project),
            web.post("/tasks/{gid}/removeProject", self._remove_project),
            web.post("/tasks/{gid}/stories", self._add_story),
        ]
        for route in routes:
            app.router.add_route(route.method, API_PREFIX + route.path, route.handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not self._authorized(request):
            return ApiError(401, "Not Authorized").response()
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if request.method == "GET" and ((request.content_length or 0) > 0 or chunked):
            # Asana's CDN has refused GET requests with a body since January 2024.
            return ApiError(400, "GET requests must not have a body").response()
        path = request.path.removeprefix(API_PREFIX)
        fault = self.faults.take_api(request.method, path)
        if fault.reset:
            if request.transport is not None:
                request.transport.close()
            # The connection is gone; raising stops aiohttp from writing anything.
            raise web.HTTPServiceUnavailable()
        if fault.status is not None:
            message = fault.message or (
                RATE_LIMITED if fault.status == 429 else f"Injected failure: {fault.status}"
            )
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return ApiError(fault.status, message, headers=headers).response()
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        retry_after = self._limiter.acquire(write=write)
        if retry_after is not None:
            return ApiError(429, RATE_LIMITED, headers={"Retry-After": str(retry_after)}).response()
        try:
            if fault.delay:
                # A slow answer keeps its concurrency slot, as on Asana.
                await anyio.sleep(fault.delay)
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPMethodNotAllowed:
            return ApiError(405, "Method not allowed").response()
        except web.HTTPNotFound:
            return ApiError(404, "No matching route for request").response()
        finally:
            self._limiter.release(write=write)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    # -- request helpers -----------------------------------------------------------------------

    async def _read_data(self, request: web.Request, *, form: bool = False) -> tuple[dict[str, Any], Any]:
        """The request's `data` object and top-level `options` (form fields count as data)."""
        if form and request.content_type in _FORM_TYPES:
            posted = await request.post()
            return {key: value for key, value in posted.items() if isinstance(value, str)}, {}
        raw = await request.read()
        if not raw:
            raise ApiError(400, "data: Missing input")
        try:
            payload = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Could not parse request data, invalid JSON") from None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise ApiError(400, "data: Missing input")
        return data, payload.get("options")

    @staticmethod
    def _output(request: web.Request, options: Any = None) -> tuple[list[str] | None, bool]:
        """`opt_fields` (None when not given) and `opt_pretty`, from the query or body `options`."""
        options = options if isinstance(options, dict) else {}
        fields: list[str] | None = None
        if "opt_fields" in request.query:
            fields = [name.strip() for name in request.query["opt_fields"].split(",") if name.strip()]
        elif isinstance(options.get("fields"), list):
            fields = [str(name) for name in options["fields"]]
        if "opt_pretty" in request.query:
            pretty = request.query["opt_pretty"].lower() not in ("false", "0")
        else:
            pretty = bool(options.get("pretty", False))
        return fields, pretty

    @staticmethod
    def _required_string(data: Mapping[str, Any], key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"{key}: Missing input")
        return value

    @staticmethod
    def _api_root(request: web.Request) -> str:
        # From the request rather than base_url, so the app also works mounted on another server.
        return f"{request.scheme}://{request.host}{API_PREFIX}"

    def _webhook(self, request: web.Request) -> Webhook:
        gid = request.match_info["gid"]
        hook = self._dispatcher.webhooks.get(gid)
        if hook is None:
            raise ApiError(404, f"Unknown object: {gid}")
        return hook

    def _entity(self, gid: str, kind: type[_E]) -> _E:
        obj = self.world.get(gid)
        if not isinstance(obj, kind):
            raise ApiError(404, f"Unknown object: {gid}")
        return obj

    def _publish(self, occurrences: Sequence[Occurrence]) -> None:
        for occurrence in occurrences:
            self._dispatcher.publish(occurrence.event, occurrence.scopes)

    # -- webhook routes ------------------------------------------------------------------------

    async def _create_webhook(self, request: web.Request) -> web.StreamResponse:
        data, options = await self._read_data(request, form=True)
        fields, pretty = self._output(request, options)
        resource_gid = self._required_string(data, "resource")
        target = self._required_string(data, "target")
        resource = self.world.get(resource_gid)
        if resource is None:
            raise ApiError(400, f"resource: Not a recognized ID: {resource_gid}")
        check_target(target, strict=self.strict)
        filters = parse_filters(data.get("filters"), resource_type=resource.resource_type)
        if self._dispatcher.has_duplicate(resource.gid, target):
            raise ApiError(403, DUPLICATE_MESSAGE)
        gid = self.world.new_gid()
        hook, secret = await self._dispatcher.establish(
            gid=gid,
            resource=resource.compact(),
            workspace_gid=resource.workspace_gid or resource.gid,
            target=target,
            filters=filters,
            plan=self.faults.take_handshake(),
        )
        return json_response(
            {"data": hook.record(fields, compact=False), "X-Hook-Secret": secret},
            status=201,
            pretty=pretty,
            headers={"Location": f"{self._api_root(request)}/webhooks/{gid}"},
        )

    async def _list_webhooks(self, request: web.Request) -> web.StreamResponse:
        fields, pretty = self._output(request)
        query = request.query
        workspace = query.get("workspace")
        if not workspace:
            raise ApiError(400, "workspace: Missing input")
        if self.world.get(workspace) is None:
            raise ApiError(400, f"workspace: Not a recognized ID: {workspace}")
        resource = query.get("resource") or None
        limit = self._limit(query.get("limit"))
        after = ""
        if "offset" in query:
            saved = self._offsets.get(query["offset"])
            if saved is None or saved[:2] != (workspace, resource):
                raise ApiError(400, "offset: Your pagination token is invalid.")
            after = saved[2]
        hooks = [
            hook
            for hook in sorted(self._dispatcher.webhooks.values(), key=lambda hook: int(hook.gid))
            if hook.workspace_gid == workspace
            and (resource is None or hook.resource["gid"] == resource)
            and (not after or int(hook.gid) > int(after))
        ]
        page = hooks if limit is None else hooks[:limit]
        next_page: dict[str, str] | None = None
        if limit is not None and len(hooks) > limit:
            token = secrets.token_urlsafe(16)
            self._offsets[token] = (workspace, resource, page[-1].gid)
            params = {key: value for key, value in query.items() if key != "offset"}
            path = "/webhooks?" + urlencode({**params, "offset": token})
            next_page = {"offset": token, "path": path, "uri": self._api_root(request) + path}
        data = [hook.record(fields, compact=True) for hook in page]
        return json_response({"data": data, "next_page": next_page}, pretty=pretty)

    @staticmethod
    def _limit(raw: str | None) -> int | None:
        if raw is None:
            return None
        try:
            limit = int(raw)
        except ValueError:
            raise ApiError(400, f"limit: Not a number: {raw}") from None
        if not 1 <= limit <= 100:
            raise ApiError(400, "limit: The value must be between 1 and 100.")
        return limit

    async def _get_webhook(self, request: web.Request) -> web.StreamResponse:
        hook = self._webhook(request)
        fields, pretty = self._output(request)
        return json_response({"data": hook.record(fields, compact=False)}, pretty=pretty)

    async def _update_webhook(self, request: web.Request) -> web.StreamResponse:
        hook = self._webhook(request)
        data, options = await self._read_data(request)
        fields, pretty = self._output(request, options)
        if "filters" not in data:
            raise ApiError(400, "filters: Missing input")
        # PUT replaces the filters wholesale; resource and target cannot change.
        hook.filters = parse_filters(data["filters"], resource_type=hook.resource["resource_type"])
        return json_response({"data": hook.record(fields, compact=False)}, pretty=pretty)

    async def _delete_webhook(self, request: web.Request) -> web.StreamResponse:
        hook = self._webhook(request)
        _, pretty = self._output(request)
        self._dispatcher.remove(hook)
        return json_response({"data": {}}, pretty=pretty)

    # -- world routes --------------------------------------------------------------------------

    async def _get_me(self, request: web.Request) -> web.StreamResponse:
        _, pretty = self._output(request)
        return json_response({"data": self.world.user_record(self.world.user_gid)}, pretty=pretty)

    async def _list_workspaces(self, request: web.Request) -> web.StreamResponse:
        _, pretty = self._output(request)
        data = [ws.compact() for ws in self.world.of_type("workspace")]
        return json_response({"data": data, "next_page": None}, pretty=pretty)

    async def _list_projects(self, request: web.Request) -> web.StreamResponse:
        _, pretty = self._output(request)
        workspace = request.query.get("workspace")
        data = [
            project.compact()
            for project in self.world.of_type("project")
            if workspace is None or project.workspace_gid == workspace
        ]
        return json_response({"data": data, "next_page": None}, pretty=pretty)

    async def _create_project(self, request: web.Request) -> web.StreamResponse:
        data, options = await self._read_data(request)
        _, pretty = self._output(request, options)
        name = self._required_string(data, "name")
        team_gid = data.get("team")
        team = self._referenced(team_gid, "team") if team_gid is not None else None
        workspace_gid = data.get("workspace") or (team.workspace_gid if team else None)
        if not isinstance(workspace_gid, str):
            raise ApiError(400, "workspace: Missing input")
        self._referenced(workspace_gid, "workspace")
        project, occurrences = self.world.create_project(
            name=name, workspace_gid=workspace_gid, team_gid=team.gid if team else None
        )
        self._publish(occurrences)
        return json_response({"data": self.world.project_record(project)}, status=201, pretty=pretty)

    async def _get_project(self, request: web.Request) -> web.StreamResponse:
        _, pretty = self._output(request)
        project = self._entity(request.match_info["gid"], Project)
        return json_response({"data": self.world.project_record(project)}, pretty=pretty)

    def _referenced(self, gid: Any, resource_type: str) -> Any:
        """An object named in a request body, or 400 in Asana's words."""
        obj = self.world.get(gid) if isinstance(gid, str) else None
        if obj is None or obj.resource_type != resource_type:
            raise ApiError(400, f"{resource_type}: Not a recognized ID: {gid}")
        return obj

    async def _create_task(self, request: web.Request) -> web.StreamResponse:
        data, options = await self._read_data(request)
        _, pretty = self._output(request, options)
        raw_projects = data.get("projects", [])
        if not isinstance(raw_projects, list):
            raise ApiError(400, "projects: Value is not an array")
        projects: list[Project] = [self._referenced(gid, "project") for gid in raw_projects]
        workspace_gid = data.get("workspace") or (projects[0].workspace_gid if projects else None)
        if not isinstance(workspace_gid, str):
            raise ApiError(400, "workspace: Missing input")
        self._referenced(workspace_gid, "workspace")
        assignee = self._assignee(data)
        task, occurrences = self.world.create_task(
            name=str(data.get("name", "")),
            workspace_gid=workspace_gid,
            project_gids=[project.gid for project in projects],
            notes=str(data.get("notes", "")),
            assignee_gid=assignee,
        )
        self._publish(occurrences)
        return json_response({"data": self.world.task_record(task)}, status=201, pretty=pretty)

    def _assignee(self, data: Mapping[str, Any]) -> str | None:
        raw = data.get("assignee")
        if raw is None:
            return None
        if raw == "me":
            return self.world.user_gid
        user: Any = self._referenced(raw, "user")
        return str(user.gid)

    async def _get_task(self, request: web.Request) -> web.StreamResponse:
        _, pretty = self._output(request)
        task = self._entity(request.match_info["gid"], Task)
        return json_response({"data": self.world.task_record(task)}, pretty=pretty)

    async def _update_task(self, request: web.Request) -> web.StreamResponse:
        task = self._entity(request.match_info["gid"], Task)
        data, options = await self._read_data(request)
        _, pretty = self._output(request, options)
        changes: dict[str, Any] = {key: data[key] for key in ("name", "notes", "due_on") if key in data}
        if "completed" in data:
            if not isinstance(data["completed"], bool):
                raise ApiError(400, "completed: Value is not a boolean")
            changes["completed"] = data["completed"]
        if "assignee" in data:
            changes["assignee"] = self._assignee(data)
        self._publish(self.world.update_task(task, changes))
        return json_response({"data": self.world.task_record(task)}, pretty=pretty)

    async def _delete_task(self, request: web.Request) -> web.StreamResponse:
        task = self._entity(request.match_info["gid"], Task)
        _, pretty = self._output(request)
        self._publish(self.world.delete_task(task))
        return json_response({"data": {}}, pretty=pretty)

    async def _add_project(self, request: web.Request) -> web.StreamResponse:
        task = self._entity(request.match_info["gid"], Task)
        data, options = await self._read_data(request)
        _, pretty = self._output(request, options)
        project: Project = self._referenced(data.get("project"), "project")
        self._publish(self.world.add_task_to_project(task, project))
        return json_response({"data": {}}, pretty=pretty)

    async def _remove_project(self, request: web.Request) -> web.StreamResponse:
        task = self._entity(request.match_info["gid"], Task)
        data, options = await self._read_data(request)
        _, pretty = self._output(request, options)
        project: Project = self._referenced(data.get("project"), "project")
        self._publish(self.world.remove_task_from_project(task, project))
        return json_response({"data": {}}, pretty=pretty)

    async def _add_story(self, request: web.Request) -> web.StreamResponse:
        task = self._entity(request.match_info["gid"], Task)
        data, options = await self._read_data(request)
        _, pretty = self._output(request, options)
        text = self._required_string(data, "text")
        story, occurrences = self.world.add_comment(task, text=text, author_gid=self.world.user_gid)
        self._publish(occurrences)
        return json_response({"data": self.world.story_record(story)}, status=201, pretty=pretty)
