"""Static seed data for the Zendesk sandbox: people, places, organisations, subjects.

Plain data (no behaviour), so the state module stays about state and the defaults tests
and the demo rely on are visible in one place.
"""

from __future__ import annotations

from typing import Any, Final

from .. import _seed
from .._seed import NAMES, REGIONS, STORES

DEFAULT_EMAIL: Final = "agent@sandbox.example"
DEFAULT_TOKEN: Final = "sandbox-token"  # noqa: S105 - the public, fixed local demo token
DEFAULT_SUBDOMAIN: Final = "sandbox"

FIRST_TICKET_ID: Final = 1
FIRST_USER_ID: Final = 361_000_001
FIRST_ORG_ID: Final = 362_000_001
FIRST_GROUP_ID: Final = 363_000_001
FIRST_FIELD_ID: Final = 364_000_001
FIRST_OPTION_ID: Final = 365_000_001
FIRST_COMMENT_ID: Final = 366_000_001
FIRST_AUDIT_ID: Final = 367_000_001

# Zendesk locale ids of the seeded locales (as listed by /api/v2/locales; en-US is 1).
LOCALE_IDS: Final = {"en-US": 1, "es": 2, "de": 8, "fr": 16, "nb": 34}

# IANA name -> the Rails name Zendesk shows in `time_zone` (`iana_time_zone` holds the IANA one).
RAILS_TIME_ZONES: Final = {
    "UTC": "UTC", "Europe/London": "London", "Europe/Paris": "Paris",
    "Europe/Berlin": "Berlin", "Europe/Madrid": "Madrid", "Europe/Oslo": "Oslo",
    "Europe/Vienna": "Vienna", "Europe/Zurich": "Bern", "Europe/Brussels": "Brussels",
    "America/New_York": "Eastern Time (US & Canada)",
    "America/Chicago": "Central Time (US & Canada)",
    "America/Los_Angeles": "Pacific Time (US & Canada)",
    "America/Mexico_City": "Mexico City", "America/Montreal": "Eastern Time (US & Canada)",
}

# locale -> (first names, last names, mail domains, IANA time zones)
PEOPLE: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "en-US": (*NAMES["en"], ("example.com", "example.org"),
              ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")),
    "fr": (*NAMES["fr"], ("exemple.fr", "example.fr"),
           ("Europe/Paris", "Europe/Brussels", "America/Montreal")),
    "nb": (*NAMES["nb"], ("eksempel.no", "example.no"), ("Europe/Oslo",)),
    "de": (*NAMES["de"], ("beispiel.de", "example.de"),
           ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich")),
    "es": (*NAMES["es"], ("ejemplo.es", "example.es"), ("Europe/Madrid", "America/Mexico_City")),
}
LOCALE_WEIGHTS: Final = (("en-US", 45), ("fr", 15), ("nb", 12), ("de", 15), ("es", 13))

ORGANIZATIONS: Final = (
    ("Acme Corp", ("enterprise", "vip")), ("Globex", ("smb",)),
    ("Initech", ("smb", "trial")), ("Nordlys AS", ("enterprise",)),
    ("Boulangerie Dupont", ("smb",)),
)
GROUPS: Final = ("Support", "Billing", "Tier 2")
AGENTS: Final = (("Alex Agent", "alex.agent@sandbox.example"),
                 ("Sam Support", "sam.support@sandbox.example"))
USER_TAGS: Final = ("vip", "beta", "newsletter", "churn_risk")
TICKET_TAGS: Final = ("billing", "login", "bug", "refund", "feature_request", "urgent")
BRAND_IDS: Final = ("1", "2")
SUBJECTS: Final = _seed.SUBJECTS  # the same for both sandboxes

# Custom user fields a lived-in account already has (key, type, title, options).
USER_FIELDS: Final[tuple[dict[str, Any], ...]] = (
    {"key": "plan", "type": "dropdown", "title": "Plan",
     "custom_field_options": [{"name": "Basic", "value": "basic"},
                              {"name": "Pro", "value": "pro"},
                              {"name": "Enterprise", "value": "enterprise"}]},
    {"key": "account_manager", "type": "text", "title": "Account manager"},
    {"key": "region", "type": "dropdown", "title": "Region",
     "custom_field_options": [{"name": r.title(), "value": r} for r in REGIONS]},
)
REGION_FIELD: Final = "region"  # the user field key of a person's region
# The custom "Store" ticket field (a dropdown) of a seeded account; config.example.toml
# names this id.
STORE_FIELD_ID: Final = 360_001_234
STORE_OPTIONS: Final = tuple((s, s.replace("_", " ").title()) for s in STORES)
