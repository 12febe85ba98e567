"""What the store hands out and takes in: frozen records, never ORM objects.

Plain records keep callers from lazy-loading across a closed transaction and make every
method's effect explicit. Datetimes are timezone-aware UTC on the way in and out; SQLite
keeps them as naive UTC text, so the conversion lives here, in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping


class UnknownSend(KeyError):
    """No send has this id (a forged or stale link, or a wiped database)."""


class NoResponseYet(LookupError):
    """A comment arrived for a send that has no score: the score click must come first."""


@dataclass(frozen=True)
class NewSend:
    """A survey the rules decided to send; becomes one `sends` row unless its key exists."""

    idem_key: str
    program: str
    survey_type: str
    source: str
    contact_id: str
    due_at: datetime
    created_at: datetime
    ticket_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    language: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    pipeline: str | None = None
    subject: str | None = None
    closed_at: datetime | None = None
    status: str = "pending"
    skip_reason: str | None = None
    kind: str = "survey"  # or "reminder"
    parent_id: int | None = None  # a reminder's survey
    reminder_no: int = 0
    timezone: str | None = None
    organization_id: str | None = None
    segments: dict[str, str] | None = None  # [reporting.segments] values read from the CRM
    channel: str = "email"  # "email", "sms", "web"
    phone: str | None = None  # E.164
    trigger: str | None = None  # None: the CRM poll or a list cadence
    reference: str | None = None  # what it is about when not a ticket: "deal:123"


@dataclass(frozen=True)
class SendRecord:
    """One row of the outbox as it stands in the database."""

    id: int
    idem_key: str
    program: str
    survey_type: str
    source: str
    ticket_id: str | None
    contact_id: str
    email: str | None
    first_name: str | None
    language: str | None
    owner_id: str | None
    team_id: str | None
    pipeline: str | None
    subject: str | None
    closed_at: datetime | None
    created_at: datetime
    due_at: datetime
    status: str
    skip_reason: str | None
    claimed_until: datetime | None
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    message_id: str | None
    email_norm: str | None = None
    kind: str = "survey"
    parent_id: int | None = None
    reminder_no: int = 0
    timezone: str | None = None
    organization_id: str | None = None
    segments: dict[str, str] | None = None  # custom segments captured when queued
    channel: str = "email"
    phone: str | None = None
    trigger: str | None = None
    reference: str | None = None

    @property
    def survey_id(self) -> int:
        """The send whose token the links carry and whose answer counts (a reminder's parent)."""
        return self.parent_id if self.parent_id is not None else self.id


@dataclass(frozen=True)
class ResponseRecord:
    """A customer's answer; `answered_at` is the first click, `updated_at` the latest change."""

    id: int
    send_id: int
    score: int
    comment: str | None
    category: str
    answered_at: datetime
    updated_at: datetime
    owner_id_at_answer: str | None = None  # who held the ticket when it was written back
    team_id_at_answer: str | None = None
    attributed_at: datetime | None = None  # None: not read yet


@dataclass(frozen=True)
class AttributedResponse:
    """A response with both attributions: who held its ticket at close and at answer time.

    For follow-ups (the owner at rating time gets the task), alerts and reports (score by
    agent or team, credited either way). `attributed` is False until the write-back has
    read the ticket; a survey without a ticket is never attributed.
    """

    response: ResponseRecord
    program: str
    survey_type: str
    source: str
    contact_id: str
    ticket_id: str | None
    owner_id_at_close: str | None
    team_id_at_close: str | None
    owner_id_at_answer: str | None
    team_id_at_answer: str | None
    attributed: bool


@dataclass(frozen=True)
class WriteBackRecord:
    """A pending fact for one CRM contact; `data` holds semantic values, not property names."""

    id: int
    source: str
    contact_id: str
    send_id: int | None
    kind: str
    data: dict[str, Any]
    created_at: datetime
    attempts: int
    lapsed: bool = False
    """Claimed before by a writer that never settled it (killed, or its lease ran out): its
    write may have landed, so an outcome-sensitive write (a note) looks before creating."""


def to_db(value: datetime) -> datetime:
    """Normalize an aware datetime to UTC; a naive one is a bug at the call site."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime given to the store: {value!r}; pass an aware UTC time")
    return value.astimezone(UTC)


def to_db_opt(value: datetime | None) -> datetime | None:
    return None if value is None else to_db(value)


def from_db(value: datetime) -> datetime:
    """SQLite returns naive UTC, PostgreSQL aware in the session zone: make both aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def from_db_opt(value: datetime | None) -> datetime | None:
    return None if value is None else from_db(value)


def iso(value: datetime | None) -> str | None:
    """The ISO 8601 form written into write-back data (JSON has no datetime type)."""
    return None if value is None else from_db(value).isoformat()


SEND_TIMES = ("closed_at", "created_at", "due_at", "claimed_until", "sent_at")


def send_record(row: RowMapping | Mapping[str, Any]) -> SendRecord:
    values = dict(row)
    for name in SEND_TIMES:
        values[name] = from_db_opt(values[name])
    return SendRecord(**values)


def response_record(row: RowMapping) -> ResponseRecord:
    return ResponseRecord(
        id=row["id"],
        send_id=row["send_id"],
        score=row["score"],
        comment=row["comment"],
        category=row["category"],
        answered_at=from_db(row["answered_at"]),
        updated_at=from_db(row["updated_at"]),
        owner_id_at_answer=row.get("owner_id_at_answer"),
        team_id_at_answer=row.get("team_id_at_answer"),
        attributed_at=from_db_opt(row.get("attributed_at")),
    )


def writeback_record(row: RowMapping, lapsed: Collection[int] = ()) -> WriteBackRecord:
    return WriteBackRecord(
        id=row["id"],
        source=row["source"],
        contact_id=row["contact_id"],
        send_id=row["send_id"],
        kind=row["kind"],
        data=dict(row["data"]),
        created_at=from_db(row["created_at"]),
        attempts=row["attempts"],
        lapsed=row["id"] in lapsed,
    )
