"""A small aiohttp client for the emulator's REST API that checks webhook traffic against Asana's spec."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDictProxy

from tests import oas

# The statuses the spec documents for the webhook operations (429, 405, 503 are not in it).
SPEC_STATUSES = frozenset({200, 201, 400, 401, 403, 404, 500})


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A response, read whole."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The first error object of an error body."""
        first: dict[str, Any] = self.json()["errors"][0]
        return first


class Rest:
    """Calls ``base_url + path`` with the token; validates webhook requests and responses when asked."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, *, validate: bool) -> None:
        self._session = session
        self._base_url = base_url
        self._token = token
        self._validate = validate

    @property
    def validates(self) -> bool:
        """Whether webhook traffic is checked against the spec."""
        return self._validate

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        token: str | None = None,
        conform: bool = True,
    ) -> Reply:
        """Send one request; `conform=False` for requests that break the spec on purpose."""
        url = self._base_url + path + (f"?{urlencode(params)}" if params else "")
        raw = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self._token if token is None else token}"}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        webhook_route = path.startswith("/webhooks")
        if self._validate and webhook_route and conform:
            oas.validate_request(method, url, raw)
        async with self._session.request(method, url, data=raw, headers=headers) as response:
            reply = Reply(status=response.status, headers=response.headers, body=await response.read())
        if self._validate and webhook_route and reply.status in SPEC_STATUSES:
            oas.validate_response(method, url, reply.status, reply.body)
        return reply

    async def create_webhook(
        self, resource: str, target: str, filters: list[dict[str, Any]] | None = None, **params: str
    ) -> Reply:
        """POST /webhooks with one envelope."""
        data: dict[str, Any] = {"resource": resource, "target": target}
        if filters is not None:
            data["filters"] = filters
        return await self.call("POST", "/webhooks", params=params or None, body={"data": data})
