"""What the web widget (daemon/web/widget) keeps: in-page surveys in the one outbox, and "Not now".

An in-page survey is a `sends` row like any other (channel "web", trigger "widget"), written
as sent the moment the card is shown: in the same transaction as the e-mail path's
`mark_sent`, the ledger rows (so the cooldowns count it whatever the channel), the 'sent'
write-back and the `survey.sent` event. It never passes through dispatch (it is never
pending), and gets no reminder. Answers go through `record_response` / `record_comment`,
exactly as from the e-mail pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, Table, delete, func, select

from closedloop.daemon.store.answers import RESPONSES
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.events import emit_event, sent_payload
from closedloop.daemon.store.members import MEMBERS
from closedloop.daemon.store.records import (
    NewSend,
    SendRecord,
    from_db,
    iso,
    send_record,
    to_db,
)
from closedloop.daemon.store.sends import (
    SENDS,
    WRITEBACKS,
    _send_row,
    insert_for,
    normalize_email,
    touch_ledger,
)
from closedloop.daemon.store.tables import Base

DISMISSALS: Table = Base.metadata.tables["widget_dismissals"]
WIDGET = "widget"  # sends.trigger of an in-page survey
WEB = "web"  # its sends.channel


@dataclass(frozen=True)
class KnownContact:
    """Who a visitor is in a CRM, as the store last saw them (a survey or an NPS member)."""

    contact_id: str
    first_name: str | None
    language: str | None
    timezone: str | None


class WidgetMixin:
    """In-page survey and "Not now" methods of `Store`; each call is one short transaction."""

    engine: Engine

    def known_contact(self, email: str, source: str) -> KnownContact | None:
        """The CRM record of `email` in `source`: the newest survey row's, else an NPS
        audience member's; None when the store never met this person in that CRM."""
        person = normalize_email(email)
        with reading(self.engine) as conn:
            row = conn.execute(
                select(SENDS.c.contact_id, SENDS.c.first_name, SENDS.c.language,
                       SENDS.c.timezone)
                .where(SENDS.c.email_norm == person, SENDS.c.source == source,
                       SENDS.c.contact_id != "")
                .order_by(SENDS.c.created_at.desc(), SENDS.c.id.desc()).limit(1)
            ).first()
            if row is not None:
                return KnownContact(row.contact_id, row.first_name, row.language, row.timezone)
            member = conn.scalar(
                select(MEMBERS.c.contact_id)
                .where(MEMBERS.c.email_norm == person, MEMBERS.c.source == source).limit(1)
            )
        return None if member is None else KnownContact(member, None, None, None)

    def open_web_survey(self, send: NewSend, now: datetime) -> SendRecord:
        """Store an in-page survey as sent at `now` (ledger, write-back and event with it).

        Idempotent on `send.idem_key`: a second call (another tab, another replica) stores
        nothing and returns the row the first one stored."""
        row = {**_send_row(send), "status": "sent", "sent_at": to_db(now)}
        with self.engine.begin() as conn:
            stored = conn.execute(
                insert_for(conn, SENDS).values(**row)
                .on_conflict_do_nothing(index_elements=["idem_key"])
                .returning(*SENDS.c)
            ).mappings().first()
            if stored is None:
                existing = conn.execute(
                    select(SENDS).where(SENDS.c.idem_key == send.idem_key)
                ).mappings().one()
                return send_record(existing)
            _after_sent(conn, stored, to_db(now))
            return send_record(stored)

    def open_web_surveys(self, email: str, programs: list[str],
                         since: datetime) -> list[SendRecord]:
        """The person's in-page surveys of these programs shown at or after `since` and not
        answered yet, newest first (offered again on the next page, until answered)."""
        person = normalize_email(email)
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(SENDS)
                .outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                .where(SENDS.c.email_norm == person, SENDS.c.trigger == WIDGET,
                       SENDS.c.program.in_(programs), SENDS.c.status == "sent",
                       SENDS.c.sent_at >= to_db(since), RESPONSES.c.id.is_(None))
                .order_by(SENDS.c.sent_at.desc(), SENDS.c.id.desc())
            ).mappings().all()
        return [send_record(r) for r in rows]

    def dismiss_widget(self, site: str, email: str, until: datetime, now: datetime) -> None:
        """"Not now": no card for this person on `site` before `until` (never shortened)."""
        person = normalize_email(email)
        with self.engine.begin() as conn:
            current = conn.scalar(select(DISMISSALS.c.until).where(
                DISMISSALS.c.site == site, DISMISSALS.c.email_norm == person))
            if current is not None and from_db(current) >= until:
                return
            stmt = insert_for(conn, DISMISSALS).values(
                site=site, email_norm=person, until=to_db(until), created_at=to_db(now))
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["site", "email_norm"],
                set_={"until": stmt.excluded.until, "created_at": stmt.excluded.created_at}))

    def widget_counts(self, conn: Connection, now: datetime) -> dict[str, int]:
        """For `closedloop status`: in-page surveys shown and answered, "Not now" in force;
        nothing at all until the widget showed a card or was dismissed."""
        shown, answered = conn.execute(
            select(func.count(SENDS.c.id), func.count(RESPONSES.c.id))
            .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
            .where(SENDS.c.trigger == WIDGET)
        ).one()
        dismissed = conn.scalar(select(func.count()).select_from(DISMISSALS)
                                .where(DISMISSALS.c.until > to_db(now)))
        if not (shown or dismissed):
            return {}
        return {"widget.shown": int(shown), "widget.answered": int(answered),
                "widget.not_now": int(dismissed or 0)}

    def widget_dismissed_until(self, site: str, email: str) -> datetime | None:
        """When this person's "Not now" on `site` ends (None: never dismissed)."""
        with reading(self.engine) as conn:
            until = conn.scalar(select(DISMISSALS.c.until).where(
                DISMISSALS.c.site == site, DISMISSALS.c.email_norm == normalize_email(email)))
        return None if until is None else from_db(until)


def _after_sent(conn: Connection, row: RowMapping, now: datetime) -> None:
    """What `mark_sent` does for a survey that left: event, 'sent' write-back, ledger."""
    emit_event(conn, "survey.sent", sent_payload(row, now), now, send_id=row["id"])
    conn.execute(WRITEBACKS.insert().values(
        source=row["source"], contact_id=row["contact_id"], send_id=row["id"], kind="sent",
        created_at=now, status="pending", attempts=0,
        data={"survey_type": row["survey_type"], "program": row["program"], "sent_at": iso(now)},
    ))
    if row["email_norm"]:
        touch_ledger(conn, row["email_norm"], row["program"], row["source"], now)


def forget_dismissals(conn: Connection, email_norm: str) -> int:
    """`forget`: the person's "Not now" rows go with the rest of their data."""
    return conn.execute(delete(DISMISSALS).where(DISMISSALS.c.email_norm == email_norm)).rowcount
