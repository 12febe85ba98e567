"""Seed data both sandboxes use: the demo's people's names and its ticket subjects.

One cast for both CRMs, so a demo or test reads the same in either; each sandbox's seed
adds what is its vendor's (locales, mail domains, time zones, ids).
"""

from __future__ import annotations

import random
from typing import Final

# language -> (first names, last names)
NAMES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "en": (("Olivia", "James", "Amelia", "Noah", "Grace", "Oliver", "Emily", "Harry"),
           ("Smith", "Johnson", "Brown", "Taylor", "Walker", "Wright", "Clarke")),
    "fr": (("Léa", "Hugo", "Chloé", "Louis", "Camille", "Gabriel", "Inès", "Raphaël"),
           ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau")),
    "nb": (("Nora", "Jakob", "Ingrid", "Emil", "Sofie", "Aksel", "Solveig", "Håkon"),
           ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Berg", "Dahl")),
    "de": (("Mia", "Lukas", "Hannah", "Jonas", "Lena", "Felix", "Jürgen", "Sophie"),
           ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Krüger")),
    "es": (("Lucía", "Mateo", "Sofía", "Martín", "Valeria", "Diego", "Carmen", "Álvaro"),
           ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Núñez")),
}

SUBJECTS: Final = (
    "Cannot log in", "Refund request", "Invoice shows the wrong amount", "Export fails",
    "Password reset mail never arrives", "App crashes on start", "Change billing address",
    "Feature question", "Slow dashboard", "Duplicate charge", "Cancel subscription",
    "Integration stopped syncing",
)

# Where the customers shop: a few regions of several stores each (a store is in one region).
# The HubSpot sandbox keeps them in a `region` contact property and a `store` ticket
# property; the Zendesk one in a `region` user field and a "Store" ticket field.
REGIONS: Final[dict[str, tuple[str, ...]]] = {
    "north": ("oslo", "bergen", "stockholm"),
    "central": ("berlin", "munich", "vienna", "zurich"),
    "west": ("london", "paris", "dublin", "brussels"),
    "south": ("madrid", "barcelona", "lisbon"),
}
STORES: Final[dict[str, str]] = {store: region for region, stores in REGIONS.items()
                                 for store in stores}
# A person's home region by language (English speakers live anywhere).
HOME_REGION: Final[dict[str, str]] = {"nb": "north", "de": "central", "fr": "west",
                                      "es": "south"}


# Mobile numbers as people type them at home, by language: a national form (read in the
# program's default region) or an international one. Made from the person's index, not the
# seeded generator, so adding numbers moved no other seeded value.
_PHONES: dict[str, tuple[str, str]] = {
    "en": ("(415) 555-{a:04d}", "+1 415 555 {a:04d}"),
    "fr": ("06 12 {b:02d} {c:02d} {d:02d}", "+33 6 12 {b:02d} {c:02d} {d:02d}"),
    "nb": ("912 {b:02d} {c:03d}", "+47 912 {b:02d} {c:03d}"),
    "de": ("0151 2345 {a:04d}", "+49 151 2345 {a:04d}"),
    "es": ("612 {b:02d}{c:01d} {a:03d}", "+34 612 {b:02d}{c:01d} {a:03d}"),
}


def phone_for(language: str, index: int) -> str | None:
    """A person's mobile number: two people in three have one, every other one typed in
    the international form; None for the rest."""
    if index % 3 == 2:
        return None
    national, international = _PHONES.get(language[:2], _PHONES["en"])
    pattern = international if index % 2 else national
    return pattern.format(a=index % 10_000, b=index % 100, c=index % 10, d=(index // 7) % 100)


def region_for(language: str, rng: random.Random) -> str | None:
    """A person's region (about one in twelve has none recorded)."""
    if rng.random() < 0.08:
        return None
    return HOME_REGION.get(language[:2]) or rng.choice(sorted(REGIONS))


def store_for(region: str | None, rng: random.Random) -> str | None:
    """The store a ticket is about: one of the person's region's (any without a region);
    about one ticket in twelve names none."""
    if rng.random() < 0.08:
        return None
    return rng.choice(REGIONS[region] if region else sorted(STORES))
