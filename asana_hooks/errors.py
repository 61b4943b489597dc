"""Every error asana_hooks raises, rooted at :class:`AsanaHooksError`.

The tree, so that callers can branch on exactly what they care about::

    AsanaHooksError
    ├── InvalidRequestError (also ValueError)   bad arguments, refused before anything is sent
    ├── TransportError                           connection failed, reset or timed out (wraps aiohttp)
    │   └── RequestTimeout
    ├── AsanaAPIError                            Asana answered with an error status
    │   ├── BadRequest (400)
    │   │   ├── LargerScopeFiltersRequired       workspace/team/portfolio webhook without allowed filters
    │   │   └── HandshakeFailed (also a HandshakeError) Asana could not complete the handshake
    │   ├── Unauthorized (401)
    │   ├── PaymentRequired (402)
    │   ├── Forbidden (403)
    │   │   ├── InvalidTarget                    Asana will not call that target (localhost, private)
    │   │   └── DuplicateWebhook                 same resource and target already registered
    │   ├── NotFound (404)
    │   │   └── WebhookNotFound                  that webhook gid is gone (deleted, or after 24 h failing)
    │   ├── RateLimited (429)                    .retry_after: the last Retry-After seen, in seconds
    │   ├── ServerError (5xx)                    .phrase: Asana's support phrase
    │   └── UnexpectedResponse                   success status, but not the body the call returns
    ├── HandshakeError                           the create's handshake went wrong
    │   ├── HandshakeFailed                      (see above) Asana's 400 saying the handshake failed
    │   ├── HandshakeNotReceived                 Asana's create finished without our receiver seeing it
    │   └── HandshakeSecretMismatch              the 201's X-Hook-Secret differs from the handshake's
    ├── DeliveryRejected                         an incoming request was refused; .http_status says how
    │   ├── SignatureInvalid (401)               missing, malformed or wrong X-Hook-Signature; no secret
    │   ├── HandshakeRefused (403)               X-Hook-Secret with no create in flight for the token
    │   ├── UnknownWebhookPath (404)             no subscription at that path token
    │   ├── PayloadTooLarge (413)                body above the configured limit, refused before HMAC
    │   ├── MalformedPayload (400)               signed correctly, but not a ``{"events": [...]}`` JSON body
    │   └── DeliveryRefused (503)                a handler declined a verified batch; Asana resends it
    └── StoreError                               the secret store failed (I/O, corrupt data)

Messages never contain tokens, secrets, signatures or request bodies: they are built from fixed text,
status codes, gids and target URLs only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AsanaAPIError",
    "AsanaHooksError",
    "BadRequest",
    "DeliveryRefused",
    "DeliveryRejected",
    "DuplicateWebhook",
    "Forbidden",
    "HandshakeError",
    "HandshakeFailed",
    "HandshakeNotReceived",
    "HandshakeRefused",
    "HandshakeSecretMismatch",
    "InvalidRequestError",
    "InvalidTarget",
    "LargerScopeFiltersRequired",
    "MalformedPayload",
    "NotFound",
    "PayloadTooLarge",
    "PaymentRequired",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "SignatureInvalid",
    "StoreError",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "UnknownWebhookPath",
    "WebhookNotFound",
]


def redact_target(target: str) -> str:
    """A target URL with its path token cut to four characters, for messages, logs and reprs.

    The path token is unguessable on purpose; printing it whole would hand it to whoever reads the
    logs. Programs get the full URL from the ``target`` attributes instead.
    """
    head, marker, token = target.rpartition("/h/")
    if not marker or not token:
        return target
    return f"{head}{marker}{token[:4]}…"


class AsanaHooksError(Exception):
    """Root of every error raised by asana_hooks."""


class InvalidRequestError(AsanaHooksError, ValueError):
    """The caller's arguments were refused locally; nothing was sent to Asana."""


class TransportError(AsanaHooksError):
    """The HTTP exchange itself failed (connection refused or reset, TLS, timeout)."""


class RequestTimeout(TransportError):
    """No complete response arrived within the configured timeout."""


class AsanaAPIError(AsanaHooksError):
    """Asana (or the emulator) answered with an error status.

    Attributes:
        status: The HTTP status code.
        errors: The ``errors[]`` objects of the body, every key kept (``message``, ``help``,
            ``phrase``, and extras such as ``error`` or ``user_message``).
        method: The HTTP method of the failed request.
        path: The API path of the failed request, without query string.
    """

    def __init__(
        self,
        status: int,
        errors: Sequence[Mapping[str, Any]] = (),
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors]
        self.method = method
        self.path = path
        super().__init__(self._describe())

    @property
    def messages(self) -> list[str]:
        """The ``message`` of each error object that has one."""
        return [str(e["message"]) for e in self.errors if e.get("message")]

    @property
    def message(self) -> str:
        """All error messages joined, or an empty string."""
        return "; ".join(self.messages)

    @property
    def error_codes(self) -> list[str]:
        """Machine-readable ``error`` codes Asana put beside some messages."""
        return [str(e["error"]) for e in self.errors if e.get("error")]

    @property
    def phrase(self) -> str | None:
        """Asana's support phrase (sent on 500 errors), if any."""
        for error in self.errors:
            if error.get("phrase"):
                return str(error["phrase"])
        return None

    def _describe(self) -> str:
        where = f" on {self.method} {self.path}" if self.method or self.path else ""
        text = self.message or "no error message in the response"
        return f"Asana answered {self.status}{where}: {text}"


class BadRequest(AsanaAPIError):
    """400: a parameter was missing or malformed."""


class LargerScopeFiltersRequired(BadRequest):
    """400 ``invalid_filters_for_larger_scoped_webhooks``.

    Webhooks on workspaces, teams and portfolios need at least one filter, all from Asana's short
    allow-list (project added/removed/deleted/undeleted/changed, team_membership and
    workspace_membership added/removed); task and story events never reach them.
    """


class Unauthorized(AsanaAPIError):
    """401: the token is missing, wrong, expired, or the app was disabled."""


class PaymentRequired(AsanaAPIError):
    """402: the feature needs a paid plan."""


class Forbidden(AsanaAPIError):
    """403: authenticated, but refused."""


class InvalidTarget(Forbidden):
    """403 on create: Asana will not deliver to that target (localhost, private or invalid host).

    Asana must reach the target from the internet: give a public HTTPS base URL, for example through
    a tunnel, when developing against real Asana.
    """


class DuplicateWebhook(Forbidden):
    """403 on create: a webhook with the same resource and target exists already."""


class NotFound(AsanaAPIError):
    """404: no such route or object."""


class WebhookNotFound(NotFound):
    """404 on a webhook gid: deleted by you, or by Asana after 24 hours of failed deliveries."""


class RateLimited(AsanaAPIError):
    """429 after the client's retries ran out.

    Attributes:
        retry_after: The last ``Retry-After`` Asana sent, in seconds, or None when it sent none
            that could be read.
    """

    def __init__(
        self,
        status: int,
        errors: Sequence[Mapping[str, Any]] = (),
        *,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, errors, method=method, path=path)


class ServerError(AsanaAPIError):
    """5xx: Asana failed; ``phrase`` identifies the failure for Asana's support."""

    def _describe(self) -> str:
        text = super()._describe()
        return f"{text} (phrase: {self.phrase})" if self.phrase else text


class UnexpectedResponse(AsanaAPIError):
    """Asana answered with a success status, but the body is not what the operation returns.

    For example: not JSON, no ``data`` member, or a webhook record without a ``gid``.
    """


class HandshakeError(AsanaHooksError):
    """The create's handshake did not complete as the protocol requires."""


class HandshakeFailed(BadRequest, HandshakeError):
    """The create was refused because Asana could not complete the handshake with the target.

    Asana reached no receiver, or the receiver did not answer 200/204 with the identical
    ``X-Hook-Secret`` in time (a proxy asking for credentials, a wrong public URL, a tunnel down).
    Both an API error (``status``, ``errors``) and a handshake error.
    """


class HandshakeNotReceived(HandshakeError):
    """Asana finished the create but our receiver never saw a handshake for its target.

    Attributes:
        target: The target URL the webhook was created with.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(
            f"no handshake reached the receiver for target {redact_target(target)}; check that the "
            "public URL routes to this receiver (proxy, tunnel, path prefix)"
        )


class HandshakeSecretMismatch(HandshakeError):
    """The 201's ``X-Hook-Secret`` differs from the one captured at the handshake.

    The webhook has been deleted, since its deliveries could not be trusted.
    """

    def __init__(self, webhook_gid: str, target: str) -> None:
        self.webhook_gid = webhook_gid
        self.target = target
        super().__init__(
            f"the X-Hook-Secret returned for webhook {webhook_gid} does not match the handshake's "
            f"secret for target {redact_target(target)}; the webhook was deleted"
        )


class DeliveryRejected(AsanaHooksError):
    """An incoming request to the receiver was refused.

    Attributes:
        http_status: The status the receiver answers with.
    """

    http_status: ClassVar[int] = 400


class SignatureInvalid(DeliveryRejected):
    """The delivery's ``X-Hook-Signature`` is missing, malformed, repeated or wrong, or no secret is
    held for the webhook."""

    http_status: ClassVar[int] = 401


class HandshakeRefused(DeliveryRejected):
    """A request carried ``X-Hook-Secret`` but no create is in flight for its path token."""

    http_status: ClassVar[int] = 403


class UnknownWebhookPath(DeliveryRejected):
    """No subscription or pending create uses that path token."""

    http_status: ClassVar[int] = 404


class PayloadTooLarge(DeliveryRejected):
    """The body exceeds the receiver's configured limit; refused before any HMAC work."""

    http_status: ClassVar[int] = 413


class MalformedPayload(DeliveryRejected):
    """The signature was valid but the body is not a JSON object with an ``events`` list."""

    http_status: ClassVar[int] = 400


class DeliveryRefused(DeliveryRejected):
    """Raised by a delivery handler to decline a verified batch without it counting as a bug.

    The receiver answers ``http_status`` (503), so Asana resends the batch later instead of it
    being acknowledged and lost. The hub raises it for webhooks no subscription here handles.
    """

    http_status: ClassVar[int] = 503


class StoreError(AsanaHooksError):
    """The secret store failed to read or write."""
