"""The sandbox's webhook subscriptions: what a HubSpot developer app's "ticket.propertyChange"
subscription POSTs to its target URL.

HubSpot configures webhooks in the developer app (a target URL, and subscriptions such as
ticket.propertyChange on hs_pipeline_stage), not through the private-app token, so this is
a test hook rather than an API route: `sandbox.webhooks.subscribe(url, client_secret)`.
Events go out in HubSpot's batch format (a JSON array of up to 100 events), signed v3:
base64 HMAC-SHA256 of method + URI + body + X-HubSpot-Request-Timestamp with the app's
client secret (the older v1 header is sent too, as HubSpot does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from .._notify import Build, Notifier
from .state import HubSpotState

PORTAL_ID = 62515
APP_ID = 1_000_001


@dataclass(frozen=True)
class Subscription:
    id: int
    target_url: str
    client_secret: str
    properties: tuple[str, ...]


class HubSpotWebhooks:
    """Subscriptions of the sandbox's one app, fed by the state's ticket changes."""

    def __init__(self, state: HubSpotState, notifier: Notifier | None = None) -> None:
        self.notifier = notifier or Notifier()
        self._subscriptions: list[Subscription] = []
        self._builds: dict[int, Build] = {}
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._lock = threading.Lock()
        state.ticket_listeners.append(self._ticket_changed)

    def subscribe(self, target_url: str, client_secret: str,
                  properties: tuple[str, ...] = ("hs_pipeline_stage",)) -> int:
        """Send ticket.propertyChange events of `properties` to `target_url`."""
        with self._lock:
            sub = Subscription(next(self._ids), target_url, client_secret, properties)
            self._subscriptions.append(sub)
            self._builds[sub.id] = _builder(sub)
            return sub.id

    def unsubscribe_all(self) -> None:
        with self._lock:
            self._subscriptions.clear()

    def drop_next(self, n: int) -> None:
        """Lose the next `n` webhook requests (each may carry several events)."""
        self.notifier.drop_next(n)

    def _ticket_changed(self, ticket_id: str, prop: str, value: Any) -> None:
        with self._lock:
            subs = [s for s in self._subscriptions if prop in s.properties]
        for sub in subs:
            event = {"eventId": next(self._events), "subscriptionId": sub.id,
                     "portalId": PORTAL_ID, "appId": APP_ID,
                     "occurredAt": int(time.time() * 1000),
                     "subscriptionType": "ticket.propertyChange", "attemptNumber": 0,
                     "objectId": int(ticket_id), "propertyName": prop,
                     "propertyValue": "" if value is None else str(value),
                     "changeSource": "CRM", "sourceId": "userId:1"}
            self.notifier.send(sub.target_url, self._builds[sub.id], event)



def _builder(sub: Subscription) -> Build:
    """The signed request of a batch of this subscription's events."""
    def build(events: list[Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(events).encode()
        timestamp = str(int(time.time() * 1000))
        message = b"POST" + sub.target_url.encode() + body + timestamp.encode()
        v3 = base64.b64encode(hmac.new(sub.client_secret.encode(), message,
                                       hashlib.sha256).digest()).decode()
        v1 = hashlib.sha256(sub.client_secret.encode() + body).hexdigest()
        return body, {"X-HubSpot-Signature-v3": v3, "X-HubSpot-Request-Timestamp": timestamp,
                      "X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v1"}
    return build
