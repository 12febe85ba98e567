"""Person look-ups for a batch of addresses at once (`closedloop send --csv`).

The same answer as `Store.latest_send_of(source, email=...)` for each address, in one query
per 500 addresses instead of one per person: a bulk send of 100,000 rows would otherwise
spend most of its time in round trips.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import SendRecord, send_record
from closedloop.daemon.store.sends import SENDS, chunks, normalize_email


def latest_sends_by_email(engine: Engine, source: str,
                          emails: Sequence[str]) -> dict[str, SendRecord]:
    """Normalized address -> the newest survey row of that person on `source` that has an
    address (as latest_send_of picks it); people with none are left out."""
    wanted = sorted({normalize_email(e) for e in emails})
    found: dict[str, SendRecord] = {}
    with reading(engine) as conn:
        for part in chunks(wanted):
            rows = conn.execute(
                select(SENDS).where(SENDS.c.source == source, SENDS.c.kind == "survey",
                                    SENDS.c.email_norm.in_(part))
                .order_by(SENDS.c.id)).mappings()
            for row in rows:
                found[row["email_norm"]] = send_record(row)  # the last (newest) wins
    return found
