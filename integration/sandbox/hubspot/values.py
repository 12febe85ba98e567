"""Time formats and property-value validation, as HubSpot applies them on writes.

HubSpot rejects a whole batch when one value does not fit its property's type; the sandbox
does the same so the adapter's handling of that 400 is exercised before production.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Final

_DAY_MS: Final = 86_400_000
_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")

VALID_FIELD_TYPES: Final[dict[str, frozenset[str]]] = {
    "bool": frozenset({"booleancheckbox"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "number": frozenset({"number", "calculation_equation"}),
    "phone_number": frozenset({"phonenumber"}),
    "string": frozenset({"text", "textarea", "html", "file", "phonenumber"}),
}


def iso_ms(ms: int) -> str:
    """Epoch ms -> HubSpot's datetime string ("2026-11-20T10:15:00.000Z")."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def iso(dt: datetime) -> str:
    """Aware (or UTC-naive) datetime -> HubSpot's datetime string."""
    return iso_ms(to_ms(dt))


def to_ms(dt: datetime) -> int:
    """Datetime -> epoch ms; a naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def now_ms() -> int:
    return to_ms(datetime.now(UTC))


def parse_ms(value: str) -> int | None:
    """Epoch ms from a filter/property value given as ms digits, an ISO datetime or a date."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return to_ms(dt)


def _invalid(name: str, code: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": code, "name": name,
            "localizedErrorMessage": message}


def normalize_value(  # noqa: PLR0911 - one early return per property type
        prop: dict[str, Any] | None, name: str, value: Any) -> tuple[Any, Any]:
    """Check one written value against its property definition.

    Returns (stored value, None) or (None, HubSpot's per-property validation record).
    """
    if prop is None:
        return None, _invalid(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if prop["modificationMetadata"]["readOnlyValue"]:
        return None, _invalid(name, "READ_ONLY_VALUE",
                              f'"{name}" is a read only property; its value cannot be set.')
    if value is None or value == "":
        return None, None
    text = value if isinstance(value, str) else json.dumps(value)
    kind = prop["type"]
    if kind == "number":
        try:
            float(text)
        except ValueError:
            return None, _invalid(name, "INVALID_INTEGER",
                                  f"{text} was not a valid number.")
        return text, None
    if kind == "date":
        return _normalize_date(name, text)
    if kind == "datetime":
        ms = parse_ms(text)
        if ms is None:
            return None, _invalid(name, "INVALID_DATE",
                                  f"{text} was not a valid long or ISO 8601 timestamp.")
        return iso_ms(ms), None
    if kind == "bool" and text not in ("true", "false"):
        return None, _invalid(name, "INVALID_OPTION",
                              f"{text} was not one of the allowed options: [true, false]")
    if kind == "enumeration":
        allowed = [o["value"] for o in prop["options"]]
        chosen = text.split(";") if prop["fieldType"] == "checkbox" else [text]
        bad = [c for c in chosen if c not in allowed]
        if bad:
            return None, _invalid(
                name, "INVALID_OPTION",
                f"{bad[0]} was not one of the allowed options: [{', '.join(allowed)}]")
    return text, None


def _normalize_date(name: str, text: str) -> tuple[Any, Any]:
    if _DATE_RE.match(text):
        try:
            datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            pass
        else:
            return text, None
    elif text.isdigit() and int(text) % _DAY_MS == 0:
        return datetime.fromtimestamp(int(text) / 1000, UTC).strftime("%Y-%m-%d"), None
    return None, _invalid(
        name, "INVALID_DATE",
        f"{text} is at {text} which is not midnight UTC; date values must be at midnight UTC.")


def property_create_problem(  # noqa: PLR0911 - one return per refusal reason
        body: Any, groups: set[str]) -> str | None:
    """Why a property definition would be refused by the v3 properties API, or None."""
    if not isinstance(body, dict):
        return "Invalid input JSON: expected an object."
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName")
               if not isinstance(body.get(k), str) or not body.get(k)]
    if missing:
        return f"Some required fields were not set: [{', '.join(missing)}]"
    name, kind, field = body["name"], body["type"], body["fieldType"]
    if not _NAME_RE.match(name):
        return (f"Property name '{name}' is invalid: names must start with a lowercase letter "
                "and contain only lowercase letters, digits and underscores.")
    if kind not in VALID_FIELD_TYPES:
        return f"Invalid property type '{kind}'."
    if field not in VALID_FIELD_TYPES[kind]:
        return f"Property type '{kind}' and field type '{field}' are not a valid combination."
    if body["groupName"] not in groups:
        return f"Property group '{body['groupName']}' does not exist."
    options = body.get("options", [])
    if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("value"), str)
            and isinstance(o.get("label"), str) for o in options):
        return "Invalid options: each option needs a string label and value."
    if kind == "enumeration" and field != "booleancheckbox" and not options:
        return f"Enumeration property '{name}' needs at least one option."
    return None
