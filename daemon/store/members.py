"""NPS members: who an audience held, since when, and when the program first read it.

`first_seen_at` decides the cycle a person joins, so an upsert never moves it; `last_seen_at`
only ever grows (two replicas' passes may interleave), and a member whose `last_seen_at` is
older than a complete pass has left the audience. When a program's first complete pass ran
is a row in `cursors`, so "the program's first cycle" survives restarts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, case, select, update

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db, from_db_opt, to_db, to_db_opt
from closedloop.daemon.store.sends import CURSORS, SENDS, chunks, insert_for, normalize_email
from closedloop.daemon.store.tables import Base

MEMBERS: Table = Base.metadata.tables["members"]
LEFT_AUDIENCE = "left_audience"
_NAME_MAX = 64  # cursors.name


@dataclass(frozen=True)
class SeenMember:
    """One contact a pass over the audience found (what the store keeps of it)."""

    contact_id: str
    email: str | None
    customer_since: datetime | None = None


@dataclass(frozen=True)
class MemberRecord:
    """A member as stored: `first_seen_at` never changes once written."""

    program: str
    source: str
    contact_id: str
    email_norm: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    customer_since: datetime | None


def cadence_cursor_name(program: str) -> str:
    """The `cursors.name` holding a program's first complete pass (fits 64 characters)."""
    name = f"cadence:{program}"
    if len(name) <= _NAME_MAX:
        return name
    digest = hashlib.sha256(program.encode()).hexdigest()[:8]
    return f"{name[: _NAME_MAX - 9]}:{digest}"


class MembersMixin:
    """Member and cadence-state methods of `Store`; each call is one short transaction."""

    engine: Engine

    def upsert_members(self, program: str, source: str, seen: Sequence[SeenMember],
                       now: datetime) -> dict[str, MemberRecord]:
        """Record a page of members seen at `now`; return their rows, keyed by contact id.

        New members get first_seen_at = now; known ones keep it. last_seen_at never goes
        back, so a slower replica's pass cannot make a member look gone.
        """
        unique = {m.contact_id: m for m in seen}  # PostgreSQL refuses one row twice per statement
        if not unique:
            return {}
        at = to_db(now)
        rows = [{"program": program, "source": source, "contact_id": m.contact_id,
                 "email_norm": normalize_email(m.email) if m.email else None,
                 "first_seen_at": at, "last_seen_at": at,
                 "customer_since": to_db_opt(m.customer_since)} for m in unique.values()]
        with self.engine.begin() as conn:
            stmt = insert_for(conn, MEMBERS)
            newer = stmt.excluded.last_seen_at
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["program", "source", "contact_id"],
                set_={"email_norm": stmt.excluded.email_norm,
                      "customer_since": stmt.excluded.customer_since,
                      "last_seen_at": case((MEMBERS.c.last_seen_at < newer, newer),
                                           else_=MEMBERS.c.last_seen_at)},
            ), rows)
            return _select_members(conn, program, source, list(unique))

    def get_members(self, program: str, source: str,
                    contact_ids: Sequence[str]) -> dict[str, MemberRecord]:
        """The stored rows of these contacts (unknown ones are left out); reads only."""
        with reading(self.engine) as conn:
            return _select_members(conn, program, source, list(dict.fromkeys(contact_ids)))

    def skip_left_members(self, program: str, source: str, pass_at: datetime) -> int:
        """After a complete pass at `pass_at`: skip the pending surveys of members it missed.

        Only survey rows: a reminder of a survey already sent still goes out (the person may
        answer it). Returns how many rows were skipped ("left_audience").
        """
        gone = select(MEMBERS.c.contact_id).where(
            MEMBERS.c.program == program, MEMBERS.c.source == source,
            MEMBERS.c.last_seen_at < to_db(pass_at))
        with self.engine.begin() as conn:
            result = conn.execute(
                update(SENDS)
                .where(SENDS.c.program == program, SENDS.c.source == source,
                       SENDS.c.status == "pending", SENDS.c.kind == "survey",
                       SENDS.c.contact_id.in_(gone))
                .values(status="skipped", skip_reason=LEFT_AUDIENCE, claimed_until=None)
            )
        return int(result.rowcount)

    def cadence_started(self, program: str, source: str) -> datetime | None:
        """When the program's first complete pass over its audience ran; None before it."""
        with reading(self.engine) as conn:
            value: str | None = conn.scalar(select(CURSORS.c.value).where(
                CURSORS.c.source == source, CURSORS.c.name == cadence_cursor_name(program)))
        return None if value is None else datetime.fromisoformat(value)

    def record_cadence_start(self, program: str, source: str, started: datetime,
                             now: datetime) -> datetime:
        """Keep `started` as the program's first complete pass unless one is already kept.

        The first writer wins (two replicas finishing their first pass together agree on
        one start). Returns the start in force.
        """
        name = cadence_cursor_name(program)
        with self.engine.begin() as conn:
            conn.execute(insert_for(conn, CURSORS).values(
                source=source, name=name, value=to_db(started).isoformat(),
                updated_at=to_db(now),
            ).on_conflict_do_nothing(index_elements=["source", "name"]))
            value = conn.scalar(select(CURSORS.c.value).where(
                CURSORS.c.source == source, CURSORS.c.name == name))
        return datetime.fromisoformat(str(value))


def _select_members(conn: Connection, program: str, source: str,
                    contact_ids: list[str]) -> dict[str, MemberRecord]:
    found: dict[str, MemberRecord] = {}
    for part in chunks(contact_ids):
        rows = conn.execute(select(MEMBERS).where(
            MEMBERS.c.program == program, MEMBERS.c.source == source,
            MEMBERS.c.contact_id.in_(part))).mappings()
        for row in rows:
            found[row["contact_id"]] = MemberRecord(
                program=row["program"], source=row["source"], contact_id=row["contact_id"],
                email_norm=row["email_norm"], first_seen_at=from_db(row["first_seen_at"]),
                last_seen_at=from_db(row["last_seen_at"]),
                customer_since=from_db_opt(row["customer_since"]),
            )
    return found
