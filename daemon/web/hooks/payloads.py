"""What a verified notification says: (event id, ticket ids) per event, from each CRM's shape.

- HubSpot webhook subscriptions POST a JSON array of up to 100 events; each has an
  `eventId`, a `subscriptionType` ("ticket.propertyChange", "ticket.creation", ...) and the
  ticket's `objectId`. Events about other objects are acknowledged and ignored.
- Zendesk posts what its trigger's action says. `closedloop setup --zendesk-trigger` makes
  the body {"event": "closedloop.ticket_solved", "ticket_id": "{{ticket.id}}", ...}; the
  event id is the webhook id and invocation id from the headers (Zendesk resends the same
  invocation). A Zendesk event-subscription webhook ("type": "zen:event-type:ticket...",
  with `id` and `detail.id`) is understood too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

Event = tuple[str, list[str]]  # (event id, ticket ids)


class PayloadError(ValueError):
    """Well-formed JSON that is not a notification we understand: answered 400."""


def _ticket_id(value: Any) -> str | None:
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    return text if text.isdigit() else None


def hubspot_events(data: Any) -> list[Event]:
    """One Event per ticket event of a HubSpot batch; other objects' events are ignored."""
    if not isinstance(data, list):
        raise PayloadError("expected a JSON array of HubSpot webhook events")
    events: list[Event] = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping) or "eventId" not in item:
            raise PayloadError(f"event {index}: expected an object with an eventId")
        kind = str(item.get("subscriptionType") or "")
        if not kind.startswith("ticket."):
            continue
        ticket = _ticket_id(item.get("objectId"))
        if ticket is None:
            raise PayloadError(f"event {index}: objectId is not a ticket id")
        events.append((f"hubspot:{item['eventId']}", [ticket]))
    return events


def zendesk_events(data: Any, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """The one Event of a Zendesk webhook call (trigger body or event subscription)."""
    if not isinstance(data, Mapping):
        raise PayloadError("expected a JSON object (the Zendesk trigger's webhook body)")
    kind = str(data.get("type") or "")
    if kind.startswith("zen:event-type:ticket"):
        detail = data.get("detail") if isinstance(data.get("detail"), Mapping) else {}
        ticket = _ticket_id((detail or {}).get("id"))
        if ticket is None or not data.get("id"):
            raise PayloadError("a Zendesk ticket event needs id and detail.id")
        return [(f"zendesk-event:{data['id']}", [ticket])]
    ticket = _ticket_id(data.get("ticket_id"))
    if ticket is None:
        raise PayloadError("ticket_id is missing or not a Zendesk ticket id")
    hook = headers.get("x-zendesk-webhook-id", "")
    invocation = headers.get("x-zendesk-webhook-invocation-id", "")
    key = (f"{hook}:{invocation}" if invocation
           else f"body:{hashlib.sha256(body).hexdigest()}")  # same body, same event
    return [(f"zendesk:{key}", [ticket])]
