"""Cursors, the sends outbox and suppressions: everything on the way to a mail.

The outbox is a small state machine whose transitions are single conditional UPDATEs, so two
daemons (or one restarted after kill -9) can never both move a row to 'sending':

    pending --claim--> claimed --begin_sending--> sending --end_of_data--> awaiting_reply
       ^                  |  lease expired           |  lease expired           |
       +--release_stale---+--------------------------+       lease expired /    +--mark_sent--> sent
                                                             cut before reply --+--> outcome_unknown
    any unsent --mark_skipped--> skipped ; --mark_send_failed--> pending (retry) | failed

'sending' covers the SMTP dialogue up to the end of the payload: the relay holds nothing yet,
so a row left there by a crash is sent again. 'awaiting_reply' is committed right before the
final dot: from then on a crash or a cut leaves the outcome unknown. Such a row becomes
'outcome_unknown' (skip_reason says where it was interrupted), the safer of its two outcomes:
the ledger and cooldowns count it as sent, it is never sent again and gets no reminder.
Those moves (end_of_data, mark_outcome_unknown, release_stale) live in store/outcomes.py;
begin_sending and mark_sent (one mail or a group) in store/settle.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection, Engine, Table, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import (
    NewSend,
    SendRecord,
    UnknownSend,
    from_db_opt,
    send_record,
    to_db,
    to_db_opt,
)
from closedloop.daemon.store.tables import Base

log = structlog.get_logger(__name__)

CURSORS: Table = Base.metadata.tables["cursors"]
SENDS: Table = Base.metadata.tables["sends"]
SUPPRESSIONS: Table = Base.metadata.tables["suppressions"]
WRITEBACKS: Table = Base.metadata.tables["writebacks"]
# Built once: every page of a survey looks its send up by id.
SEND_BY_ID = select(SENDS).where(SENDS.c.id == bindparam("send_id"))
LEDGER: Table = Base.metadata.tables["ledger"]
ANY_PROGRAM = "*"  # the ledger row that a global cooldown reads

AWAITING_REPLY = "awaiting_reply"  # the end of data is on its way: outcome unknown from here
OUTCOME_UNKNOWN = "outcome_unknown"  # may have been delivered: counted as sent, never resent
# Where an outcome_unknown row was interrupted (its skip_reason):
INTERRUPTED = "interrupted_during_send"  # the daemon died between end of data and the reply
CONNECTION_LOST = "connection_lost_after_end_of_data"  # the relay's reply never came
SEND_STATUSES = ("pending", "claimed", "sending", AWAITING_REPLY, "sent", OUTCOME_UNKNOWN,
                 "failed", "skipped")
_SETTLED = ("sent", OUTCOME_UNKNOWN)  # nothing may move these back to a sendable state
_RENEWABLE = ("claimed", AWAITING_REPLY)  # a dispatcher's own rows, before and after the dot
# Well under SQLite's 32,766 bound variables per statement, and a sane IN list for PostgreSQL.
_CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_for(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT; both dialects spell it the same way."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# The statements every mail runs, built once (reuse compiled statements): building an UPDATE
# and its cache key on each call cost more CPU than SQLite executing it. Bind names start
# with "b_" so they never clash with a column name (an UPDATE takes those as SET values).
# Read-only peek (ix_sends_status_due_at): is any pending row due?
_ANY_DUE = (select(SENDS.c.id)
            .where(SENDS.c.status == "pending", SENDS.c.due_at <= bindparam("b_now")).limit(1))
_LEDGER_UPSERTS: dict[str, Any] = {}


def ledger_upsert(conn: Connection) -> Any:
    """The ledger's upsert for this dialect, built once. It keeps the later time: marks
    recorded out of order (an outcome-unknown row swept after a newer mail's group, two
    replicas) never move a person's last survey back, which would shorten a cooldown."""
    stmt = _LEDGER_UPSERTS.get(conn.dialect.name)
    if stmt is None:
        insert = insert_for(conn, LEDGER)
        newer = insert.excluded.last_sent_at > LEDGER.c.last_sent_at
        stmt = _LEDGER_UPSERTS[conn.dialect.name] = insert.on_conflict_do_update(
            index_elements=["email_norm", "program"],
            set_={"last_sent_at": case((newer, insert.excluded.last_sent_at),
                                       else_=LEDGER.c.last_sent_at),
                  "source": case((newer, insert.excluded.source), else_=LEDGER.c.source)})
    return stmt


def normalize_email(email: str) -> str:
    """Addresses compare case-insensitively in practice; store and look up one form."""
    return email.strip().lower()


class SendsMixin:
    """Outbox, cursor and suppression methods of `Store`; each call is one short transaction."""

    engine: Engine

    # -- cursors ---------------------------------------------------------------------------

    def get_cursor(self, source: str, name: str) -> str | None:
        with reading(self.engine) as conn:
            value: str | None = conn.scalar(
                select(CURSORS.c.value).where(CURSORS.c.source == source, CURSORS.c.name == name)
            )
        return value

    def set_cursor(self, source: str, name: str, value: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            stmt = insert_for(conn, CURSORS).values(
                source=source, name=name, value=value, updated_at=to_db(now)
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["source", "name"],
                    set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                )
            )

    # -- outbox ----------------------------------------------------------------------------

    def add_sends(self, sends: Sequence[NewSend]) -> int:
        """Insert new sends in one statement batch; rows whose idem_key exists are ignored.

        ON CONFLICT DO NOTHING (not check-then-insert) is what makes two pollers or replicas
        racing on the same ticket end with one row. Returns how many rows were inserted.
        """
        if not sends:
            return 0
        rows = [_send_row(send) for send in sends]
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                inserted = _pg_insert_ignoring_known_keys(conn, rows)
            else:
                stmt = (
                    insert_for(conn, SENDS)
                    .on_conflict_do_nothing(index_elements=["idem_key"])
                    .returning(SENDS.c.id)
                )
                inserted = len(conn.execute(stmt, rows).all())
        log.debug("store.sends_added", offered=len(sends), inserted=inserted)
        return inserted

    def existing_idem_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with reading(self.engine) as conn:
            for part in chunks(list(dict.fromkeys(keys))):
                found.update(conn.scalars(select(SENDS.c.idem_key).where(SENDS.c.idem_key.in_(part))))
        return found

    def get_send(self, send_id: int) -> SendRecord | None:
        with reading(self.engine) as conn:
            return send_in(conn, send_id)

    def claim_due_sends(self, now: datetime, limit: int, lease: timedelta,
                        due_by: datetime | None = None) -> list[SendRecord]:
        """Take up to `limit` pending sends due by `due_by` (default `now`), in due order (due
        time, then key), for `lease` from `now`.

        Dispatch passes its run's start as `due_by` and its running clock as `now`: a row it
        defers during the run to a moment that clock then passes (a survey in flight's lease
        end, the end of quiet hours) waits for the next run instead of coming back to this
        one, whose rules would decide it at the same start time and defer it again.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent replicas take disjoint rows without
        waiting on each other. SQLite: the whole transaction holds the write lock (BEGIN
        IMMEDIATE), which serializes claimers; FOR UPDATE renders as nothing there.
        """
        now = to_db(now)
        cutoff = now if due_by is None else to_db(due_by)
        with reading(self.engine) as conn:  # nothing due: no write lock (dispatch every 30 s)
            if conn.execute(_ANY_DUE, {"b_now": cutoff}).first() is None:
                return []
        with self.engine.begin() as conn:
            # daemon.rules.due_order: due time, then key compared as Python compares strings
            # (code points: byte order, "C", on PostgreSQL; SQLite's default BINARY is that).
            key: ColumnElement[str] = SENDS.c.idem_key
            if conn.dialect.name == "postgresql":
                key = SENDS.c.idem_key.collate("C")
            ids = list(
                conn.scalars(
                    select(SENDS.c.id)
                    .where(SENDS.c.status == "pending", SENDS.c.due_at <= cutoff)
                    .order_by(SENDS.c.due_at, key)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            rows = conn.execute(
                update(SENDS)
                .where(SENDS.c.id.in_(ids), SENDS.c.status == "pending")
                .values(status="claimed", claimed_until=now + lease)
                .returning(*SENDS.c)
            ).mappings()
            claimed = sorted((send_record(row) for row in rows),
                             key=lambda s: (s.due_at, s.idem_key))
        log.debug("store.sends_claimed", count=len(claimed))
        return claimed

    def renew_claims(self, send_ids: Sequence[int], until: datetime) -> int:
        """Extend the lease of rows this dispatcher still holds ('claimed', or handed over
        with their relay's answer not recorded yet: jobs/sent_marks.py); returns how many.

        Short leases (so a killed daemon's rows come back within seconds) stay safe for a long
        batch because the dispatcher renews them as it goes.
        """
        if not send_ids:
            return 0
        renewed = 0
        with self.engine.begin() as conn:
            for part in chunks(list(send_ids)):
                renewed += conn.execute(
                    update(SENDS)
                    .where(SENDS.c.id.in_(part), SENDS.c.status.in_(_RENEWABLE))
                    .values(claimed_until=to_db(until))
                ).rowcount
        return renewed

    def mark_send_failed(self, send_id: int, error: str, retry_at: datetime | None) -> None:
        """`retry_at` set: the mail surely did not leave, so due again then. None: give up.

        The relay refused it, so the hand-over time and Message-ID end_of_data noted are
        cleared (the next try has a Message-ID of its own)."""
        values: dict[str, Any] = {"last_error": error, "claimed_until": None, "sent_at": None,
                                  "message_id": None}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values.update(status="pending", due_at=to_db(retry_at), skip_reason=None)
        self._update_unsent(send_id, values)

    def mark_skipped(self, send_id: int, reason: str) -> None:
        self._update_unsent(
            send_id, {"status": "skipped", "skip_reason": reason, "claimed_until": None}
        )

    def _update_unsent(self, send_id: int, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(SENDS)
                .where(SENDS.c.id == send_id, SENDS.c.status.not_in(_SETTLED))
                .values(values)
            )
            if result.rowcount == 0:
                require_send(conn, send_id)

    # -- suppressions ----------------------------------------------------------------------

    def suppress(
        self, email: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        """Never mail `email` (until `until`, if given). Never shortens an existing one.

        A permanent suppression keeps its first reason (an unsubscribe stays an unsubscribe
        when the address later bounces), so counts by reason say what the person chose.
        """
        address = normalize_email(email)
        with self.engine.begin() as conn:
            current = conn.execute(
                select(SUPPRESSIONS.c.until).where(SUPPRESSIONS.c.email == address)
            ).first()
            new_until = to_db_opt(until)
            if current is not None:
                old = from_db_opt(current.until)
                if old is None:
                    return  # already permanent: nothing can make it stronger
                new_until = None if new_until is None else max(old, new_until)
            stmt = insert_for(conn, SUPPRESSIONS).values(
                email=address, reason=reason, created_at=to_db(now), until=new_until
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["email"], set_={"reason": reason, "until": new_until}
                )
            )

    def lift_unsubscribe(self, key: str) -> bool:
        """Drop `key`'s suppression if it is an unsubscribe (a number that texted START);
        a bounce stays. Whether one was dropped."""
        with self.engine.begin() as conn:
            gone = conn.execute(SUPPRESSIONS.delete().where(
                SUPPRESSIONS.c.email == normalize_email(key),
                SUPPRESSIONS.c.reason == "unsubscribed"))
        return bool(gone.rowcount)

    def is_suppressed(self, email: str, now: datetime) -> bool:
        with reading(self.engine) as conn:
            found = conn.scalar(
                select(
                    exists().where(
                        SUPPRESSIONS.c.email == normalize_email(email),
                        or_(SUPPRESSIONS.c.until.is_(None), SUPPRESSIONS.c.until > to_db(now)),
                    )
                )
            )
        return bool(found)

    def send_counts(self, conn: Connection) -> dict[str, int]:
        """Per-status and per-skip-reason counts, for `Store.counts`."""
        result: dict[str, int] = {f"sends.{status}": 0 for status in SEND_STATUSES}
        by_state = conn.execute(
            select(SENDS.c.status, SENDS.c.skip_reason, func.count())
            .group_by(SENDS.c.status, SENDS.c.skip_reason)
        )
        for status, reason, count in by_state:
            result[f"sends.{status}"] = result.get(f"sends.{status}", 0) + count
            if status in ("skipped", OUTCOME_UNKNOWN):  # skipped.<reason>, outcome_unknown.<where>
                key = f"{status}.{reason}"
                result[key] = result.get(key, 0) + count
        return result


_NEW_SEND_FIELDS = tuple(f.name for f in fields(NewSend))


def _send_row(send: NewSend) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value, a 10x slowdown on bulk inserts.
    row = {name: getattr(send, name) for name in _NEW_SEND_FIELDS}
    for name in ("due_at", "created_at", "closed_at"):
        row[name] = to_db_opt(row[name])
    row["attempts"] = 0
    # The person across CRMs and channels: the address, else (reached by SMS only) the number.
    row["email_norm"] = normalize_email(send.email) if send.email else send.phone
    return row


def _pg_insert_ignoring_known_keys(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """One INSERT .. SELECT FROM jsonb_to_recordset(one JSON parameter): one round trip.

    5-10x faster than SQLAlchemy's multi-row VALUES (psycopg re-parses each 19,000-placeholder
    page in Python) or than unnest() over arrays (psycopg dumps text arrays in Python).
    """
    names = list(rows[0])
    columns = ", ".join(names)
    types = ", ".join(f"{n} {SENDS.c[n].type.compile(conn.dialect)}" for n in names)
    sql = (
        f"INSERT INTO sends ({columns}) SELECT {columns} "  # noqa: S608 (names from tables.py)
        f"FROM jsonb_to_recordset(%(rows)s::jsonb) AS r({types}) "
        "ON CONFLICT (idem_key) DO NOTHING"
    )
    payload = json.dumps(rows, default=datetime.isoformat)
    return conn.exec_driver_sql(sql, {"rows": payload}).rowcount


def touch_ledger(conn: Connection, email_norm: str, program: str, source: str,
                  now: datetime) -> None:
    """Upsert the person's last-surveyed time for this program and for any program."""
    rows = [{"email_norm": email_norm, "program": name, "last_sent_at": now, "source": source}
            for name in (program, ANY_PROGRAM)]
    conn.execute(ledger_upsert(conn), rows)


def require_send(conn: Connection, send_id: int) -> None:
    if not conn.scalar(select(exists().where(SENDS.c.id == send_id))):
        raise UnknownSend(send_id)


def send_in(conn: Connection, send_id: int) -> SendRecord | None:
    """The send with this id, read in the caller's transaction."""
    row = conn.execute(SEND_BY_ID, {"send_id": send_id}).mappings().first()
    return None if row is None else send_record(row)
