"""Outbound webhooks: every event of the `events` outbox posted to each `[[webhooks]]`
endpoint subscribed to it, signed per the Standard Webhooks spec.

Owns: the delivery policy (backoff over more than a day, what each HTTP answer means,
dead-lettering: policy.py), the job that routes events and posts the claimed deliveries
(deliver.py), replay, and the payloads' JSON Schemas (schemas/, shipped in the wheel).
The queue itself lives in the store (store/webhooks.py); the events are written by the store
in the transaction of the change (store/events.py, `emit_event`).
"""

from closedloop.daemon.actions.webhooks.deliver import (
    DeliveryResult,
    Endpoint,
    WebhookDeliverer,
    endpoints_from_config,
    webhook_body,
)
from closedloop.daemon.actions.webhooks.policy import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    CLIENT_ERROR_ATTEMPTS,
    MAX_ATTEMPTS,
    backoff,
)
from closedloop.daemon.store.events import emit_event

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "CLIENT_ERROR_ATTEMPTS",
    "MAX_ATTEMPTS",
    "DeliveryResult",
    "Endpoint",
    "WebhookDeliverer",
    "backoff",
    "emit_event",
    "endpoints_from_config",
    "webhook_body",
]
