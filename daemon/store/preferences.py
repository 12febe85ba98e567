"""A person's mailing preference from the unsubscribe page: "never again" or "not for a while".

The choice suppresses the normalized address and queues a 'preference' write-back for the
send's contact in one transaction, so the CRM always learns what the suppression list says.
Choices only ever strengthen: a snooze after "never again" (or after a hard bounce) leaves
the permanent suppression as it is, and a shorter snooze never cuts a longer one. The one
exception is the page's "Undo", right after a choice: it puts back what held before it, but
never lifts a suppression the person did not choose (a bounce).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import Connection, Engine, RowMapping, select

from closedloop.daemon.store.events import emit_event, unsubscribed_payload
from closedloop.daemon.store.records import UnknownSend, from_db_opt, iso, to_db, to_db_opt
from closedloop.daemon.store.sends import (
    SENDS,
    SUPPRESSIONS,
    WRITEBACKS,
    insert_for,
    normalize_email,
)

log = structlog.get_logger(__name__)

Choice = Literal["unsubscribe", "snooze"]
CHOICES: tuple[Choice, ...] = ("unsubscribe", "snooze")
UNSUBSCRIBED = "unsubscribed"  # suppression reasons this module writes
SNOOZED = "snoozed"


@dataclass(frozen=True)
class Preference:
    """What holds for the person after a choice: the CRM is told exactly this."""

    unsubscribed: bool
    snoozed_until: datetime | None  # None when unsubscribed or not snoozed

    def data(self, now: datetime) -> dict[str, Any]:
        """The write-back row's data (kind 'preference'); the mapping names the properties."""
        return {
            "unsubscribed": self.unsubscribed,
            "snoozed_until": iso(self.snoozed_until),
            "updated_at": iso(now),
        }


class PreferencesMixin:
    """Unsubscribe and snooze methods of `Store`; each call is one short transaction."""

    engine: Engine

    def record_preference(
        self, send_id: int, choice: Choice, until: datetime | None, now: datetime
    ) -> Preference:
        """Suppress the send's address per `choice` and queue its write-back to the CRM.

        `until` is the end of a snooze (required for "snooze", ignored for "unsubscribe").
        Returns the preference in force afterwards. A repeated choice that changes nothing
        (a mail client retrying a one-click POST) queues no second write-back.
        """
        if choice not in CHOICES:
            raise ValueError(f"unknown preference {choice!r}; expected one of {CHOICES}")
        if choice == "snooze" and (until is None or to_db(until) <= to_db(now)):
            raise ValueError("a snooze needs an end in the future")
        with self.engine.begin() as conn:
            send = conn.execute(select(SENDS).where(SENDS.c.id == send_id)).mappings().first()
            if send is None:
                raise UnknownSend(send_id)
            address = send["email_norm"] or (
                normalize_email(send["email"]) if send["email"] else None
            )
            before = _current(conn, address, now) if address else None
            after = _merge(before, choice, until, now)
            if address:
                _write_suppression(conn, address, before, after, now)
            changed = _queue_if_changed(conn, send, before, after, now)
            if _preference(after).unsubscribed and not _preference(before).unsubscribed:
                emit_event(conn, "contact.unsubscribed", unsubscribed_payload(send, now), now,
                           send_id=send_id)
        result = _preference(after)
        log.info("store.preference_recorded", send_id=send_id, choice=choice,
                 unsubscribed=result.unsubscribed, changed=changed)
        return result


    def preference_of(self, send_id: int, now: datetime) -> Preference:
        """The preference in force for the send's address (what an undo goes back to)."""
        with self.engine.connect() as conn:
            address = _address(conn, send_id)
            return _preference(_current(conn, address, now) if address else None)

    def restore_preference(self, send_id: int, previous: Preference, now: datetime) -> Preference:
        """Undo a choice made a moment ago on the page: put `previous` back, queue its
        write-back. A suppression the person did not choose (a bounce) stays as it is."""
        with self.engine.begin() as conn:
            send = conn.execute(select(SENDS).where(SENDS.c.id == send_id)).mappings().first()
            if send is None:
                raise UnknownSend(send_id)
            address = _address(conn, send_id)
            before = _current(conn, address, now) if address else None
            if before is not None and before.reason not in (UNSUBSCRIBED, SNOOZED):
                return _preference(before)
            after = _from_preference(previous, now)
            if address and before != after:
                if after is None:
                    conn.execute(SUPPRESSIONS.delete().where(SUPPRESSIONS.c.email == address))
                else:
                    _write_suppression(conn, address, before, after, now)
            changed = _queue_if_changed(conn, send, before, after, now)
        log.info("store.preference_restored", send_id=send_id, changed=changed)
        return _preference(after)


def _address(conn: Connection, send_id: int) -> str | None:
    row = conn.execute(select(SENDS.c.email_norm, SENDS.c.email).where(SENDS.c.id == send_id)
                       ).first()
    if row is None:
        return None
    return row.email_norm or (normalize_email(row.email) if row.email else None)


def _from_preference(previous: Preference, now: datetime) -> _Row | None:
    if previous.unsubscribed:
        return _Row(UNSUBSCRIBED, None)
    until = previous.snoozed_until
    if until is not None and to_db(until) > to_db(now):
        return _Row(SNOOZED, to_db(until))
    return None


@dataclass(frozen=True)
class _Row:
    """A suppression as it stands: `until` None is permanent."""

    reason: str
    until: datetime | None


def _current(conn: Connection, address: str, now: datetime) -> _Row | None:
    """The suppression in force for `address`, ignoring one whose snooze has run out."""
    row: RowMapping | None = conn.execute(
        select(SUPPRESSIONS.c.reason, SUPPRESSIONS.c.until).where(SUPPRESSIONS.c.email == address)
    ).mappings().first()
    if row is None:
        return None
    until = from_db_opt(row["until"])
    if until is not None and until <= to_db(now):
        return None
    return _Row(str(row["reason"]), until)


def _merge(before: _Row | None, choice: Choice, until: datetime | None,
           now: datetime) -> _Row:
    """The stronger of what was in force and what was chosen."""
    if choice == "unsubscribe":
        return _Row(UNSUBSCRIBED, None)
    assert until is not None  # checked by the caller
    if before is None:
        return _Row(SNOOZED, to_db(until))
    if before.until is None:  # never again (or a hard bounce) outranks a snooze
        return before
    return _Row(SNOOZED, max(before.until, to_db(until)))


def _write_suppression(conn: Connection, address: str, before: _Row | None, after: _Row,
                       now: datetime) -> None:
    if before == after:
        return
    stmt = insert_for(conn, SUPPRESSIONS).values(
        email=address, reason=after.reason, created_at=to_db(now), until=to_db_opt(after.until)
    )
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["email"], set_={"reason": after.reason, "until": to_db_opt(after.until)}
    ))


def _preference(row: _Row | None) -> Preference:
    """How a suppression reads as a preference (a bounce is not the person's choice)."""
    if row is None:
        return Preference(unsubscribed=False, snoozed_until=None)
    if row.reason == UNSUBSCRIBED and row.until is None:
        return Preference(unsubscribed=True, snoozed_until=None)
    if row.reason == SNOOZED and row.until is not None:
        return Preference(unsubscribed=False, snoozed_until=row.until)
    return Preference(unsubscribed=False, snoozed_until=None)


def _queue_if_changed(conn: Connection, send: RowMapping, before: _Row | None,
                      after: _Row | None, now: datetime) -> bool:
    """Queue the preference's write-back when the choice changed what the CRM shows."""
    changed = _preference(before) != _preference(after)
    if changed:
        conn.execute(
            WRITEBACKS.insert().values(
                source=send["source"], contact_id=send["contact_id"], send_id=send["id"],
                kind="preference", data=_preference(after).data(now),
                created_at=to_db(now), status="pending", attempts=0,
            )
        )
    return changed
