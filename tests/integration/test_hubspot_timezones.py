"""hs_timezone -> IANA: HubSpot's spelled-out enumeration values, and what is not a zone."""

from __future__ import annotations

import pytest

from closedloop.integration.hubspot._timezones import iana_timezone


@pytest.mark.parametrize(("value", "expected"), [
    ("america_slash_new_york", "America/New_York"),
    ("europe_slash_oslo", "Europe/Oslo"),
    ("america_slash_argentina_slash_buenos_aires", "America/Argentina/Buenos_Aires"),
    ("america_slash_port_hyphen_au_hyphen_prince", "America/Port-au-Prince"),
    ("asia_slash_ust_hyphen_nera", "Asia/Ust-Nera"),
    ("us_slash_east_hyphen_indiana", "US/East-Indiana"),
    ("brazil_slash_denoronha", "Brazil/DeNoronha"),  # mixed case inside the IANA name
    ("cuba", "Cuba"),  # a legacy single-word zone
    ("America/Chicago", "America/Chicago"),  # already IANA
    ("  EUROPE/PARIS ", "Europe/Paris"),  # any case, stray spaces
    ("AMERICA_SLASH_LOS_ANGELES", "America/Los_Angeles"),
])
def test_known_values_map_to_iana(value: str, expected: str) -> None:
    assert iana_timezone(value) == expected


@pytest.mark.parametrize("value", [
    None, "", "   ", "mars_slash_olympus", "america_slash_new_york_city", "eastern",
    "america/new york", "_slash_", "europe_slash_",
])
def test_unknown_values_are_none(value: str | None) -> None:
    """Anything that does not name a zone this Python knows is None, never a guess."""
    assert iana_timezone(value) is None
