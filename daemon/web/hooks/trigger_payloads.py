"""What a verified survey-trigger body says: program, person, what it is about, event id.

One JSON object shape for the three senders (documented in the README):

    {"program": "onboarding",                 # or ?program=onboarding on the URL
     "contact_id": "901",                     # the CRM id on the program's source, and/or
     "email": "ada@example.com",
     "name": "Ada", "language": "en", "timezone": "Europe/London", "phone": "+44...",
     "segments": {"region": "emea"},
     "ticket_id": "1234",                     # what it is about (all optional):
     "deal_id": "123", "order_id": "A-17",    # -> reference "deal:123", "order:A-17"
     "reference": "renewal:2027",
     "event_id": "...", "occurred_at": "2026-12-04T12:00:00Z"}   # or epoch ms

HubSpot's workflow action may also send its default body (the enrolled record: `objectId`
or `vid`, and `properties.email` as a value or `{"value": ...}`). The event id, when the
body has none: Zendesk's webhook id and invocation id (the same on its retries), the
Standard Webhooks `webhook-id`, or a hash of the body (HubSpot resends the same body).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from closedloop.daemon.triggers import Person, Trigger, TriggerKind

_REFERENCES = (("deal_id", "deal"), ("order_id", "order"))
_NO_PROGRAM = ("the body names no program: add \"program\": \"<name>\" to it, or "
               "?program=<name> to the URL")


class TriggerPayloadError(ValueError):
    """A body that cannot be a survey trigger: answered 422 bad_trigger."""


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TriggerPayloadError(f"{key}: expected a text or a number")
    return str(value).strip() or None


def _hubspot_default(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Contact id and e-mail of HubSpot's default workflow body (the enrolled record)."""
    contact = _text(data, "objectId") or _text(data, "vid")
    props = data.get("properties")
    email = None
    if isinstance(props, Mapping):
        raw = props.get("email")
        value = raw.get("value") if isinstance(raw, Mapping) else raw
        email = str(value).strip() if isinstance(value, str) and value.strip() else None
    return contact, email


def _occurred(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**14:
        return datetime.fromtimestamp(value / 1000, UTC)  # epoch milliseconds
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    raise TriggerPayloadError("occurred_at: expected an ISO 8601 time or epoch milliseconds")


def _segments(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > 20:
        raise TriggerPayloadError("segments: expected an object of at most 20 names")
    return {str(k): v for k, v in value.items()}


def _reference(data: Mapping[str, Any]) -> str | None:
    given = _text(data, "reference")
    for key, kind in _REFERENCES:
        if (value := _text(data, key)) is not None:
            if given is not None:
                raise TriggerPayloadError(f"give either reference or {key}, not both")
            given = f"{kind}:{value}"
    return given


def parse_trigger(data: Any, kind: TriggerKind, *, query_program: str | None,
                  default_event: str | None, body: bytes) -> Trigger:
    """The Trigger of one verified body; TriggerPayloadError naming what is wrong."""
    if not isinstance(data, Mapping):
        raise TriggerPayloadError("expected a JSON object naming a program and a person")
    program = _text(data, "program") or query_program
    if not program:
        raise TriggerPayloadError(_NO_PROGRAM)
    contact_id, email = _text(data, "contact_id"), _text(data, "email")
    if kind == "hubspot_workflow" and contact_id is None and email is None:
        contact_id, email = _hubspot_default(data)
    person = Person(contact_id=contact_id, email=email, name=_text(data, "name"),
                    language=_text(data, "language"), timezone=_text(data, "timezone"),
                    phone=_text(data, "phone"), segments=_segments(data.get("segments")))
    event = (_text(data, "event_id") or default_event
             or "body-" + hashlib.sha256(body).hexdigest()[:40])
    return Trigger(program=program, person=person, kind=kind, ticket_id=_text(data, "ticket_id"),
                   reference=_reference(data), event_id=event,
                   occurred_at=_occurred(data.get("occurred_at")))


def is_trigger(data: Any, query_program: str | None) -> bool:
    """A body on a CRM source's route is a survey trigger when it names a program (in the
    body or the URL); otherwise it is a change notification (payloads.py)."""
    return bool(query_program) or (isinstance(data, Mapping) and "program" in data)
