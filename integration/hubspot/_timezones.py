"""HubSpot's hs_timezone values -> IANA zone names.

HubSpot stores a contact's time zone as an enumeration value derived from the IANA name:
lower case, "/" spelled "_slash_" and "-" spelled "_hyphen_" ("america_slash_port_hyphen_au_
hyphen_prince"). Underscores inside a name ("new_york") are kept, so the value is decoded
by those two words and then looked up case-insensitively in the zones this Python knows:
whatever does not name a real zone is None, never a guess.
"""

from __future__ import annotations

import zoneinfo
from functools import cache

_SPELLED = (("_slash_", "/"), ("_hyphen_", "-"), ("_plus_", "+"), ("_minus_", "-"))


@cache
def _zones() -> dict[str, str]:
    """Every known zone name by its lower-case form (IANA names never differ by case only)."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def iana_timezone(value: str | None) -> str | None:
    """The IANA name for an hs_timezone value (or an IANA name in any case); None if unknown."""
    if not value or not value.strip():
        return None
    text = value.strip().lower()
    zones = _zones()
    if text in zones:
        return zones[text]
    for word, char in _SPELLED:
        text = text.replace(word, char)
    return zones.get(text)
