"""The outbox's sending moves: the gate before the relay, and the relay's 250 recorded.

`begin_sending` is the single gate to the relay (see store/sends.py's state machine).
`mark_sent` records a mail the relay took, with everything that follows from it in the same
transaction: the `survey.sent` event, the 'sent' write-back, the person's ledger rows and the
reminders. That was the heaviest of a mail's three transactions, so dispatch records the
250s of several mails at once (`SentMark`s, `mark_sent_many`) and lets them ride on the next
mail's `begin_sending` transaction (jobs/sent_marks.py says when and what a crash costs):
each statement then runs once per group, not once per mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, bindparam, update

from closedloop.daemon.store.events import EVENTS, event_row, sent_payload
from closedloop.daemon.store.records import iso, to_db
from closedloop.daemon.store.sends import (
    ANY_PROGRAM,
    SENDS,
    WRITEBACKS,
    insert_for,
    ledger_upsert,
    require_send,
)

# Built once (reuse compiled statements); bind names start with "b_" so they never clash
# with a column name (an UPDATE takes those as SET values).
_BEGIN_SENDING = (
    update(SENDS)
    .where(SENDS.c.id == bindparam("b_id"), SENDS.c.status == "claimed",
           SENDS.c.claimed_until > bindparam("b_now"))
    .values(status="sending", attempts=SENDS.c.attempts + 1)
)
_MARK_SENT = (
    update(SENDS)
    .where(SENDS.c.id == bindparam("b_id"), SENDS.c.status != "sent")
    .values(status="sent", sent_at=bindparam("b_now"), message_id=bindparam("b_message_id"),
            claimed_until=None, skip_reason=None)
    .returning(*SENDS.c)
)
_INSERT_EVENTS = EVENTS.insert()
_SENT_WRITEBACKS = WRITEBACKS.insert()
# A reminder copies its survey's row but for these columns.
_NOT_COPIED = frozenset({
    "id", "idem_key", "status", "skip_reason", "claimed_until", "attempts", "last_error",
    "sent_at", "message_id", "kind", "parent_id", "reminder_no", "due_at", "created_at"})


@dataclass(frozen=True)
class SentMark:
    """One mail the relay (or the SMS provider) took: what `mark_sent` records for it."""

    send_id: int
    now: datetime  # the time recorded as sent_at (the token is dated by it too)
    message_id: str
    reminders: tuple[timedelta, ...] = ()


class SettleMixin:
    """The sending moves of `Store`; each call is one short transaction."""

    engine: Engine

    def begin_sending(self, send_id: int, now: datetime,
                      settle: Sequence[SentMark] = ()) -> bool:
        """Move a send from 'claimed' to 'sending' right before SMTP; False if we lost it.

        The conditional UPDATE is the single gate to the mail server: whoever flips the row
        first sends; anyone else (a replica that re-claimed it after our lease ran out) gets
        False. A lease that already expired also gets False, as release_stale may run any time.
        `settle`: earlier mails' marks recorded in the same transaction (see mark_sent_many),
        whatever the gate answers.
        """
        with self.engine.begin() as conn:
            settle_sent(conn, settle)
            result = conn.execute(_BEGIN_SENDING, {"b_id": send_id, "b_now": to_db(now)})
        return result.rowcount == 1

    def mark_sent(self, send_id: int, now: datetime, message_id: str,
                  reminders: Sequence[timedelta] = ()) -> None:
        """Record the mail as sent and, atomically, queue what follows from it.

        In the same transaction: the `survey.sent` event, the 'sent' write-back, the
        person's ledger rows (this program and "*", read by the cooldowns) and, for a
        survey, one reminder row per delay in `reminders` (due that long after now; each has
        its own idempotency key). Accepted from any unsent state (outcome_unknown
        included): the mail left, whatever a stale-lease sweep concluded meanwhile.
        A repeated call changes nothing and queues nothing; an unknown id is UnknownSend.
        """
        with self.engine.begin() as conn:
            if not settle_sent(conn, [SentMark(send_id, now, message_id, tuple(reminders))]):
                require_send(conn, send_id)

    def mark_sent_many(self, marks: Sequence[SentMark]) -> int:
        """`mark_sent` for several mails in one transaction; returns how many moved to sent.

        A mark whose row is already sent changes nothing (as a repeated mark_sent); one whose
        row is gone (its person was forgotten meanwhile) is passed over, not an error: the
        other marks of the group still commit."""
        if not marks:
            return 0
        with self.engine.begin() as conn:
            return settle_sent(conn, marks)


def settle_sent(conn: Connection, marks: Sequence[SentMark]) -> int:
    """Record `marks` in the caller's transaction: one UPDATE per mail, then the events,
    write-backs, ledger rows and reminders of them all, one statement each."""
    if not marks:
        return 0
    recorded = 0
    events: list[dict[str, Any]] = []
    writebacks: list[dict[str, Any]] = []
    ledger: dict[tuple[str, str], dict[str, Any]] = {}  # later marks win, as one by one
    reminders: list[dict[str, Any]] = []
    # In id order: two writers locking the same rows lock them in one order (PostgreSQL).
    for mark in sorted(marks, key=lambda m: m.send_id):
        now = to_db(mark.now)
        row = conn.execute(_MARK_SENT, {"b_id": mark.send_id, "b_now": now,
                                        "b_message_id": mark.message_id}).mappings().first()
        if row is None:
            continue  # already sent (a repeated mark), or gone
        recorded += 1
        if row["email"] is None and row["phone"] is None:
            # Its person was forgotten while it was on its way (a mail always has an
            # address, a text a number): recorded as sent, but nothing about them follows.
            continue
        events.append(event_row("survey.sent", sent_payload(row, now), now, mark.send_id,
                                row["program"], row["email_norm"]))
        if row["kind"] == "reminder":
            continue  # a reminder is not a new survey: no write-back, no ledger entry
        writebacks.append({
            "source": row["source"], "contact_id": row["contact_id"], "send_id": mark.send_id,
            "kind": "sent", "created_at": now, "status": "pending", "attempts": 0,
            "data": {"survey_type": row["survey_type"], "program": row["program"],
                     "sent_at": iso(now)}})
        if row["email_norm"]:
            for program in (row["program"], ANY_PROGRAM):
                ledger[(row["email_norm"], program)] = {
                    "email_norm": row["email_norm"], "program": program,
                    "last_sent_at": now, "source": row["source"]}
        reminders.extend(_reminder_rows(row, now, mark.reminders))
    if events:
        conn.execute(_INSERT_EVENTS, events)
    if writebacks:
        conn.execute(_SENT_WRITEBACKS, writebacks)
    if ledger:
        conn.execute(ledger_upsert(conn), [ledger[key] for key in sorted(ledger)])
    if reminders:
        conn.execute(insert_for(conn, SENDS).on_conflict_do_nothing(index_elements=["idem_key"]),
                     reminders)
    return recorded


def _reminder_rows(survey: RowMapping, now: datetime,
                   delays: Sequence[timedelta]) -> list[dict[str, Any]]:
    """One pending row per reminder; the dispatch rules drop it if the person answers first."""
    if not delays:
        return []
    base = {k: v for k, v in survey.items() if k not in _NOT_COPIED}
    return [
        {**base, "idem_key": f"{survey['idem_key']}:reminder:{n}", "kind": "reminder",
         "parent_id": survey["id"], "reminder_no": n, "due_at": now + delay, "created_at": now,
         "status": "pending", "attempts": 0}
        for n, delay in enumerate(delays, start=1)
    ]
