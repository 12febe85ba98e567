"""Zendesk users as Contacts: name split, language from the locale, an IANA time zone.

Zendesk keeps a user's zone as a Rails (ActiveSupport) name such as "Eastern Time (US &
Canada)" in `time_zone`, and (on newer accounts) the IANA name in `iana_time_zone`. The
IANA one is used when present; otherwise the Rails name is translated with the table
below (the commonly used zones; anything else is None rather than a guess).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from zoneinfo import available_timezones

from closedloop.integration._values import picked
from closedloop.integration.base import Contact
from closedloop.integration.zendesk._tickets import parse_time

# ActiveSupport::TimeZone::MAPPING, the zones customers pick most often.
RAILS_ZONES: Final[dict[str, str]] = {
    "UTC": "Etc/UTC", "London": "Europe/London", "Edinburgh": "Europe/London",
    "Dublin": "Europe/Dublin", "Lisbon": "Europe/Lisbon", "Casablanca": "Africa/Casablanca",
    "Amsterdam": "Europe/Amsterdam", "Berlin": "Europe/Berlin", "Bern": "Europe/Zurich",
    "Zurich": "Europe/Zurich", "Brussels": "Europe/Brussels", "Copenhagen": "Europe/Copenhagen",
    "Madrid": "Europe/Madrid", "Paris": "Europe/Paris", "Rome": "Europe/Rome",
    "Stockholm": "Europe/Stockholm", "Vienna": "Europe/Vienna", "Warsaw": "Europe/Warsaw",
    "Prague": "Europe/Prague", "Budapest": "Europe/Budapest", "Oslo": "Europe/Oslo",
    "Helsinki": "Europe/Helsinki", "Athens": "Europe/Athens", "Bucharest": "Europe/Bucharest",
    "Istanbul": "Europe/Istanbul", "Kyiv": "Europe/Kiev", "Moscow": "Europe/Moscow",
    "Cairo": "Africa/Cairo", "Johannesburg": "Africa/Johannesburg", "Nairobi": "Africa/Nairobi",
    "Jerusalem": "Asia/Jerusalem", "Abu Dhabi": "Asia/Dubai", "Muscat": "Asia/Muscat",
    "Mumbai": "Asia/Kolkata", "New Delhi": "Asia/Kolkata", "Kolkata": "Asia/Kolkata",
    "Chennai": "Asia/Kolkata", "Bangkok": "Asia/Bangkok", "Jakarta": "Asia/Jakarta",
    "Singapore": "Asia/Singapore", "Kuala Lumpur": "Asia/Kuala_Lumpur",
    "Hong Kong": "Asia/Hong_Kong", "Beijing": "Asia/Shanghai", "Taipei": "Asia/Taipei",
    "Seoul": "Asia/Seoul", "Tokyo": "Asia/Tokyo", "Osaka": "Asia/Tokyo",
    "Sydney": "Australia/Sydney", "Melbourne": "Australia/Melbourne",
    "Brisbane": "Australia/Brisbane", "Perth": "Australia/Perth",
    "Auckland": "Pacific/Auckland", "Wellington": "Pacific/Auckland",
    "Hawaii": "Pacific/Honolulu", "Alaska": "America/Juneau",
    "Pacific Time (US & Canada)": "America/Los_Angeles", "Arizona": "America/Phoenix",
    "Mountain Time (US & Canada)": "America/Denver",
    "Central Time (US & Canada)": "America/Chicago",
    "Eastern Time (US & Canada)": "America/New_York", "Atlantic Time (Canada)": "America/Halifax",
    "Mexico City": "America/Mexico_City", "Bogota": "America/Bogota", "Lima": "America/Lima",
    "Santiago": "America/Santiago", "Buenos Aires": "America/Argentina/Buenos_Aires",
    "Brasilia": "America/Sao_Paulo",
}
_LANGUAGE_ALIASES: Final[dict[str, str]] = {"no": "nb", "nn": "nb"}  # Norwegian → Bokmål
_IANA = available_timezones()


def language_of(locale: Any) -> str | None:
    """Zendesk's locale ("fr-FR", "en-US", "nb", "no", "pt-br") as a language ("fr", "nb")."""
    if not isinstance(locale, str) or not locale.strip():
        return None
    primary = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return _LANGUAGE_ALIASES.get(primary, primary) or None


def timezone_of(iana: Any, rails: Any) -> str | None:
    """An IANA zone name: `iana_time_zone` when valid, else the Rails name translated."""
    for value in (iana, rails):
        if isinstance(value, str) and value in _IANA:
            return value
    if isinstance(rails, str):
        return RAILS_ZONES.get(rails.strip())
    return None


def split_name(name: Any) -> tuple[str | None, str | None]:
    """("Ada", "Lovelace King") from "Ada Lovelace King"; Zendesk keeps one name field."""
    if not isinstance(name, str) or not name.strip():
        return None, None
    first, _, last = name.strip().partition(" ")
    return first, (last.strip() or None)


def to_contact(raw: Mapping[str, Any], extra: Sequence[str] = ()) -> Contact:
    """A Contact from a user's JSON (as zenpy's `to_dict()` gives it); the `extra` user
    field keys land in Contact.properties (from `user_fields`, already in the JSON)."""
    first, last = split_name(raw.get("name"))
    org = raw.get("organization_id")
    fields = raw.get("user_fields")
    return Contact(
        id=str(raw["id"]),
        email=(str(raw["email"]).strip() or None) if raw.get("email") else None,
        first_name=first,
        last_name=last,
        language=language_of(raw.get("locale")),
        timezone=timezone_of(raw.get("iana_time_zone"), raw.get("time_zone")),
        organization_id=None if org in (None, "") else str(org),
        customer_since=parse_time(raw.get("created_at")),
        properties=picked(fields, extra) if extra and isinstance(fields, Mapping) else {},
        phone=(str(raw["phone"]).strip() or None) if raw.get("phone") else None,
    )
