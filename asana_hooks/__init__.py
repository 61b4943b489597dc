"""asana_hooks: Asana webhooks from asyncio.

One event loop sends the create and answers Asana's handshake, stores the secret before answering,
verifies every delivery's signature over the raw body, and routes typed events to your handlers.
"""

from __future__ import annotations

from asana_hooks.api_requests import CreatedWebhook, WebhookPage
from asana_hooks.client import AsanaClient
from asana_hooks.config import (
    DEFAULT_BASE_URL,
    AckMode,
    ClientConfig,
    InboxConfig,
    ReceiverConfig,
    RetryPolicy,
)
from asana_hooks.deliveries import Delivery
from asana_hooks.errors import (
    AsanaAPIError,
    AsanaHooksError,
    BadRequest,
    DeliveryRefused,
    DeliveryRejected,
    DuplicateWebhook,
    Forbidden,
    HandshakeError,
    HandshakeNotReceived,
    HandshakeRefused,
    HandshakeSecretMismatch,
    InvalidRequestError,
    InvalidTarget,
    LargerScopeFiltersRequired,
    MalformedPayload,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    RequestTimeout,
    ServerError,
    SignatureInvalid,
    StoreError,
    TransportError,
    Unauthorized,
    UnexpectedResponse,
    UnknownWebhookPath,
    WebhookNotFound,
)
from asana_hooks.handshake import SecretStore, SubscriptionRecord
from asana_hooks.hub import DERIVE, HealthReport, HealthStatus, Hub, Subscription
from asana_hooks.inbox import DeadLetter, Inbox
from asana_hooks.models import (
    AsanaResource,
    Change,
    ErrorDetail,
    Event,
    EventAction,
    FilterAction,
    NamedResource,
    NextPage,
    ResourceType,
    Webhook,
    WebhookFilter,
)
from asana_hooks.receiver import Receiver
from asana_hooks.routing import Handler, Router
from asana_hooks.stores import MemoryStore, SQLiteStore, open_inbox, open_store

__version__ = "0.1.0"

__all__ = [
    "AckMode",
    "AsanaAPIError",
    "AsanaClient",
    "AsanaHooksError",
    "AsanaResource",
    "BadRequest",
    "Change",
    "ClientConfig",
    "CreatedWebhook",
    "DEFAULT_BASE_URL",
    "DERIVE",
    "DeadLetter",
    "Delivery",
    "DeliveryRefused",
    "DeliveryRejected",
    "DuplicateWebhook",
    "ErrorDetail",
    "Event",
    "EventAction",
    "FilterAction",
    "Forbidden",
    "Handler",
    "HandshakeError",
    "HandshakeNotReceived",
    "HandshakeRefused",
    "HandshakeSecretMismatch",
    "HealthReport",
    "HealthStatus",
    "Hub",
    "Inbox",
    "InboxConfig",
    "InvalidRequestError",
    "InvalidTarget",
    "LargerScopeFiltersRequired",
    "MalformedPayload",
    "MemoryStore",
    "NamedResource",
    "NextPage",
    "NotFound",
    "PayloadTooLarge",
    "PaymentRequired",
    "RateLimited",
    "Receiver",
    "ReceiverConfig",
    "RequestTimeout",
    "ResourceType",
    "RetryPolicy",
    "Router",
    "SQLiteStore",
    "SecretStore",
    "ServerError",
    "SignatureInvalid",
    "StoreError",
    "Subscription",
    "SubscriptionRecord",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "UnknownWebhookPath",
    "Webhook",
    "WebhookFilter",
    "WebhookNotFound",
    "WebhookPage",
    "__version__",
    "open_inbox",
    "open_store",
]
