"""What the outbox already knows about a person, so a trigger need not ask the CRM again.

`trigger_counts` gives `closedloop status` the surveys each kind of trigger queued.

A survey trigger names a person by CRM contact id or e-mail; the latest survey row of that
person on that source carries their address, first name, language, zone and segments as the
CRM gave them then (daemon/triggers reads the CRM only for people the store never saw).
Reminder rows and scrubbed (forgotten) rows are left out: they carry no fresh facts.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import SendRecord, send_record
from closedloop.daemon.store.sends import SENDS, normalize_email


class PeopleMixin:
    """Person look-ups of `Store` (reads only)."""

    engine: Engine

    def latest_send_of(self, source: str, *, contact_id: str | None = None,
                       email: str | None = None) -> SendRecord | None:
        """The newest survey row of this person on `source` that has an address, or None.

        By contact id when given (the CRM's own key), else by normalized e-mail."""
        query = select(SENDS).where(SENDS.c.source == source, SENDS.c.kind == "survey",
                                    SENDS.c.email_norm.is_not(None))
        if contact_id:
            query = query.where(SENDS.c.contact_id == contact_id)
        elif email:
            query = query.where(SENDS.c.email_norm == normalize_email(email))
        else:
            return None
        with reading(self.engine) as conn:
            row = conn.execute(query.order_by(SENDS.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else send_record(row)

    def send_by_key(self, idem_key: str) -> SendRecord | None:
        """The outbox row of this idempotency key, or None."""
        with reading(self.engine) as conn:
            row = conn.execute(select(SENDS).where(SENDS.c.idem_key == idem_key)
                               ).mappings().first()
        return None if row is None else send_record(row)

    def trigger_counts(self, conn: Connection) -> dict[str, int]:
        """Surveys queued by each kind of trigger (`triggered.<kind>`), for `Store.counts`."""
        rows = conn.execute(select(SENDS.c.trigger, func.count())
                            .where(SENDS.c.trigger.is_not(None), SENDS.c.kind == "survey")
                            .group_by(SENDS.c.trigger))
        return {f"triggered.{kind}": int(count) for kind, count in rows}
