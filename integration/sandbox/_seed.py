"""Seed data both sandboxes use: the demo's people's names and its ticket subjects.

One cast for both CRMs, so a demo or test reads the same in either; each sandbox's seed
adds what is its vendor's (locales, mail domains, time zones, ids).
"""

from __future__ import annotations

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
