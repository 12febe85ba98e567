"""The sandbox's webhooks: what a HubSpot app's "ticket.propertyChange" subscription POSTs.

HubSpot configures webhooks on the developer app: a target URL (`PUT /webhooks/v3/{appId}/
settings`) and subscriptions (`POST /webhooks/v3/{appId}/subscriptions`, e.g. eventType
ticket.propertyChange, propertyName hs_pipeline_stage), authenticated with the developer's
key; the sandbox serves both unauthenticated (like its /_sandbox/ routes) with the spec's
shapes, and tests may call `sandbox.webhooks.subscribe(url, client_secret)` directly.
Events go out in HubSpot's batch format (a JSON array of up to 100 events), signed v3:
base64 HMAC-SHA256 of method + URI + body + X-HubSpot-Request-Timestamp keyed with the app's
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
from .errors import ApiError
from .routing import Context, Request, Response
from .state import HubSpotState
from .values import iso_ms, now_ms

PORTAL_ID = 62515
APP_ID = 1_000_001
CLIENT_SECRET = "sandbox-app-client-secret"  # noqa: S105 - the sandbox app's published secret


@dataclass(frozen=True)
class Subscription:
    id: int
    event_type: str
    property_name: str | None
    active: bool
    created_ms: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": str(self.id), "eventType": self.event_type,
                               "active": self.active, "createdAt": iso_ms(self.created_ms),
                               "updatedAt": iso_ms(self.created_ms)}
        if self.property_name:
            out["propertyName"] = self.property_name
        return out


class HubSpotWebhooks:
    """The sandbox app's webhook settings and subscriptions, fed by the ticket changes."""

    def __init__(self, state: HubSpotState, notifier: Notifier | None = None,
                 client_secret: str = CLIENT_SECRET) -> None:
        self.notifier = notifier or Notifier()
        self.client_secret = client_secret
        self.target_url: str | None = None
        self.settings_ms: tuple[int, int] | None = None  # (created, updated)
        self._subscriptions: list[Subscription] = []
        self._build: Build | None = None
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._lock = threading.Lock()
        state.ticket_listeners.append(self._ticket_changed)
        state.app_webhooks = self

    def subscribe(self, target_url: str, client_secret: str,
                  properties: tuple[str, ...] = ("hs_pipeline_stage",)) -> list[int]:
        """Test hook: target URL, the app's secret, and active propertyChange subscriptions."""
        with self._lock:
            self.client_secret = client_secret
        self.set_target(target_url)
        return [self.add("ticket.propertyChange", p, active=True).id for p in properties]

    def set_target(self, target_url: str) -> None:
        with self._lock:
            created = self.settings_ms[0] if self.settings_ms else now_ms()
            self.target_url, self.settings_ms = target_url, (created, now_ms())
            self._build = _builder(target_url, self.client_secret)

    def add(self, event_type: str, property_name: str | None, active: bool) -> Subscription:
        with self._lock:
            sub = Subscription(next(self._ids), event_type, property_name, active, now_ms())
            self._subscriptions.append(sub)
            return sub

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions)

    def drop_next(self, n: int) -> None:
        """Lose the next `n` webhook requests (each may carry several events)."""
        self.notifier.drop_next(n)

    def _ticket_changed(self, ticket_id: str, prop: str, value: Any) -> None:
        with self._lock:
            subs = [s for s in self._subscriptions if s.active and s.property_name == prop
                    and s.event_type == "ticket.propertyChange"]
            target, build = self.target_url, self._build
        if target is None or build is None:
            return
        for sub in subs:
            event = {"eventId": next(self._events), "subscriptionId": sub.id,
                     "portalId": PORTAL_ID, "appId": APP_ID,
                     "occurredAt": int(time.time() * 1000),
                     "subscriptionType": "ticket.propertyChange", "attemptNumber": 0,
                     "objectId": int(ticket_id), "propertyName": prop,
                     "propertyValue": "" if value is None else str(value),
                     "changeSource": "CRM", "sourceId": "userId:1"}
            self.notifier.send(target, build, event)


def signed_headers(target_url: str, client_secret: str, body: bytes) -> dict[str, str]:
    """HubSpot's signature headers of one POST of `body` to `target_url` (v3, and v1)."""
    timestamp = str(int(time.time() * 1000))
    message = b"POST" + target_url.encode() + body + timestamp.encode()
    v3 = base64.b64encode(hmac.new(client_secret.encode(), message,
                                   hashlib.sha256).digest()).decode()
    v1 = hashlib.sha256(client_secret.encode() + body).hexdigest()
    return {"X-HubSpot-Signature-v3": v3, "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v1"}


def _builder(target_url: str, client_secret: str) -> Build:
    """The signed request of a batch of events to `target_url`."""
    def build(events: list[Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(events).encode()
        return body, signed_headers(target_url, client_secret, body)
    return build


# ------------------------------------------------------------------ webhooks v3 routes
def _app(ctx: Context, req: Request) -> HubSpotWebhooks:
    hooks: HubSpotWebhooks | None = getattr(ctx.state, "app_webhooks", None)
    if hooks is None or req.params.get("appId") != str(APP_ID):
        raise ApiError(404, f"App {req.params.get('appId')} not found.", "NOT_FOUND")
    return hooks


def settings_get(ctx: Context, req: Request) -> Response:
    hooks = _app(ctx, req)
    if hooks.target_url is None or hooks.settings_ms is None:
        raise ApiError(404, "No webhook settings for this app.", "NOT_FOUND")
    return Response(200, _settings_json(hooks))


def settings_put(ctx: Context, req: Request) -> Response:
    """Body {targetUrl, throttling}: where every subscription's events go."""
    hooks = _app(ctx, req)
    body = req.body if isinstance(req.body, dict) else {}
    url = body.get("targetUrl")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) \
            or not isinstance(body.get("throttling"), dict):
        raise ApiError(400, "targetUrl (an http(s) URL) and throttling are required.",
                       "VALIDATION_ERROR")
    hooks.set_target(url)
    return Response(200, _settings_json(hooks))


def _settings_json(hooks: HubSpotWebhooks) -> dict[str, Any]:
    created, updated = hooks.settings_ms or (now_ms(), now_ms())
    return {"targetUrl": hooks.target_url, "createdAt": iso_ms(created),
            "updatedAt": iso_ms(updated),
            "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"}}


def subscriptions_list(ctx: Context, req: Request) -> Response:
    return Response(200, {"results": [s.to_json() for s in _app(ctx, req).subscriptions()]})


def subscription_create(ctx: Context, req: Request) -> Response:
    """Body {eventType, propertyName?, active?}; only ticket events are ever sent."""
    hooks = _app(ctx, req)
    body = req.body if isinstance(req.body, dict) else {}
    event_type = body.get("eventType")
    if not isinstance(event_type, str) or "." not in event_type:
        raise ApiError(400, "eventType is required.", "VALIDATION_ERROR")
    prop = body.get("propertyName")
    if event_type.endswith(".propertyChange") and not isinstance(prop, str):
        raise ApiError(400, "propertyName is required for propertyChange.", "VALIDATION_ERROR")
    sub = hooks.add(event_type, prop if isinstance(prop, str) else None,
                    bool(body.get("active", False)))
    return Response(201, sub.to_json())
