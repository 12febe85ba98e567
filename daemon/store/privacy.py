"""A person's data on request: forget them (right to erasure), export every response.

Forgetting keeps the outbox rows, scrubbed of personal data, instead of deleting them: the
idempotency key is what stops a re-read ticket (or the same NPS cycle) from surveying the
person again, and an unsent row cancelled in place ("forgotten") can never be sent. Write-back
rows already made stay too, emptied, so the counts of past writes never shrink. The
suppression list is kept too: an address that said "never again" must stay unmailable, and
that one row is the least data that honours the objection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    delete,
    exists,
    or_,
    select,
    update,
)

from closedloop.daemon.store.alerts import forget_alerts
from closedloop.daemon.store.answers import RESPONSES
from closedloop.daemon.store.follow_ups import FOLLOW_UPS
from closedloop.daemon.store.records import from_db_opt, to_db
from closedloop.daemon.store.reports import forget_counted
from closedloop.daemon.store.sends import SENDS, SUPPRESSIONS, WRITEBACKS, chunks, normalize_email
from closedloop.daemon.store.sms import forget_sms
from closedloop.daemon.store.tables import Base
from closedloop.daemon.store.theme_counts import forget_themes
from closedloop.daemon.store.webhooks import forget_events
from closedloop.daemon.store.widget import forget_dismissals

log = structlog.get_logger(__name__)

LEDGER: Table = Base.metadata.tables["ledger"]
MEMBERS: Table = Base.metadata.tables["members"]
FORGOTTEN = "forgotten"  # skip reason of a send cancelled by `forget`
UNSENT = ("pending", "claimed", "held")
# Columns that say who the person is or what they wrote about; ids and segments stay.
_PERSONAL = {"email": None, "email_norm": None, "first_name": None, "subject": None,
             "language": None, "timezone": None, "phone": None}
EXPORT_BATCH = 500
# What an export row reads: the answer's columns (all NULL for an unanswered survey) and its send.
_EXPORT_COLUMNS = (RESPONSES.c.id, RESPONSES.c.score, RESPONSES.c.category, RESPONSES.c.comment,
                   RESPONSES.c.answered_at, RESPONSES.c.updated_at,
                   RESPONSES.c.owner_id_at_answer, RESPONSES.c.team_id_at_answer, SENDS)


@dataclass(frozen=True)
class ForgetResult:
    """What `forget` did; `contacts` are the (source, contact id) records queued for blanking."""

    responses: int = 0
    sends_scrubbed: int = 0
    sends_cancelled: int = 0
    ledger_rows: int = 0
    member_rows: int = 0
    contacts: tuple[tuple[str, str], ...] = ()
    suppressed: bool = False  # the address stays on the suppression list
    alerts: int = 0  # queued alerts quoting the person, dropped
    webhook_deliveries: int = 0  # undelivered webhook posts quoting them, dropped
    erasures: int = 0  # 'erase' write-backs queued: hook notes, follow-up text in the CRM

    @property
    def found(self) -> bool:
        return bool(self.sends_scrubbed or self.ledger_rows or self.member_rows)


@dataclass(frozen=True)
class ExportRow:
    """One response with what it was about; no e-mail address, no name. With `export --all`,
    also a sent survey without an answer: its answer columns are None."""

    response_id: int | None
    program: str
    survey_type: str
    score: int | None
    category: str | None
    comment: str | None
    answered_at: datetime | None
    updated_at: datetime | None
    sent_at: datetime | None
    closed_at: datetime | None
    source: str
    contact_id: str
    ticket_id: str | None
    owner_id: str | None  # who held the ticket at close
    team_id: str | None
    organization_id: str | None
    pipeline: str | None
    language: str | None
    owner_id_at_answer: str | None = None  # who held it when the answer was written back
    team_id_at_answer: str | None = None
    segments: dict[str, str] | None = None  # custom segments captured when it was queued
    send_id: int | None = None  # the survey (a response's, or the unanswered one's)


class PrivacyMixin:
    """`forget` and `export_responses` of `Store`."""

    engine: Engine

    def forget(self, email: str, now: datetime) -> ForgetResult:
        """Erase a person by address, in one transaction; see the module doc for what stays.

        Deletes their responses, the write-back rows that carried them, their ledger and
        NPS member rows; scrubs their sends (unsent ones become skipped "forgotten"); and
        queues one 'forget' write-back per CRM record they were, which blanks every mapped
        property there through the normal retrying write-back job, and one 'erase' row per
        survey of theirs whose hook or follow-up may have reached the CRM, which removes
        the notes, ticket properties and follow-up text quoting them. Their events' payloads
        are blanked and their undelivered webhook posts dropped.
        """
        address = normalize_email(email)
        when = to_db(now)
        with self.engine.begin() as conn:
            sends = conn.execute(
                select(SENDS.c.id, SENDS.c.source, SENDS.c.contact_id, SENDS.c.status,
                       SENDS.c.ticket_id, SENDS.c.phone)
                .where(SENDS.c.email_norm == address)
            ).all()
            members = conn.execute(
                select(MEMBERS.c.source, MEMBERS.c.contact_id)
                .where(MEMBERS.c.email_norm == address)
            ).all()
            contacts = sorted({(r.source, r.contact_id) for r in sends}
                              | {(r.source, r.contact_id) for r in members})
            ids = [r.id for r in sends]
            unsent = [r.id for r in sends if r.status in UNSENT]
            erasures = _erasures(conn, sends, when)
            responses = 0
            forget_counted(conn, ids)  # their answers leave the report rollups too
            forget_themes(conn, ids)  # and the theme rollups
            for part in chunks(ids):
                responses += conn.execute(
                    delete(RESPONSES).where(RESPONSES.c.send_id.in_(part))).rowcount
                _drop_writebacks(conn, WRITEBACKS.c.send_id.in_(part))
                conn.execute(update(SENDS).where(SENDS.c.id.in_(part)).values(_PERSONAL))
            alerts = forget_alerts(conn, ids)
            forget_sms(conn, ids, [r.phone for r in sends if r.phone])  # replies, numbers
            for part in chunks(unsent):
                conn.execute(update(SENDS).where(SENDS.c.id.in_(part)).values(
                    status="skipped", skip_reason=FORGOTTEN, claimed_until=None))
            for source, contact_id in contacts:  # preference rows carry no send id
                _drop_writebacks(conn, and_(WRITEBACKS.c.source == source,
                                            WRITEBACKS.c.contact_id == contact_id))
            if contacts:
                conn.execute(WRITEBACKS.insert(), [
                    {"source": source, "contact_id": contact_id, "send_id": None,
                     "kind": "forget", "data": {}, "created_at": when, "status": "pending",
                     "attempts": 0} for source, contact_id in contacts])
            if erasures:
                conn.execute(WRITEBACKS.insert(), erasures)
            ledger = conn.execute(delete(LEDGER).where(LEDGER.c.email_norm == address)).rowcount
            member_rows = conn.execute(
                delete(MEMBERS).where(MEMBERS.c.email_norm == address)).rowcount
            suppressed = bool(conn.scalar(select(exists().where(SUPPRESSIONS.c.email == address))))
            webhooks = forget_events(conn, address)
            forget_dismissals(conn, address)
        result = ForgetResult(responses=responses, sends_scrubbed=len(ids), erasures=len(erasures),
                              sends_cancelled=len(unsent), ledger_rows=ledger,
                              member_rows=member_rows, contacts=tuple(contacts),
                              suppressed=suppressed, alerts=alerts,
                              webhook_deliveries=webhooks)
        log.info("store.forgotten", responses=responses, sends=len(ids), cancelled=len(unsent),
                 contacts=len(contacts), webhook_deliveries=webhooks)
        return result

    def export_surveys(self, since: datetime | None = None) -> Iterator[ExportRow]:
        """`export --all`: every survey sent or answered, with its answer if any (so a
        response rate can be computed outside), by send id; reminders are not surveys.
        `since` keeps those sent, answered or changed at or after it."""
        after = 0
        while True:
            query = (select(*_EXPORT_COLUMNS)
                     .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
                     .where(SENDS.c.kind == "survey", SENDS.c.id > after,
                            or_(RESPONSES.c.id.is_not(None),
                                SENDS.c.status.in_(("sent", "outcome_unknown"))))
                     .order_by(SENDS.c.id).limit(EXPORT_BATCH))
            if since is not None:
                query = query.where(or_(RESPONSES.c.updated_at >= to_db(since),
                                        SENDS.c.sent_at >= to_db(since)))
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield _export_row(row._mapping)
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1]._mapping[SENDS.c.id]

    def export_responses(self, since: datetime | None = None) -> Iterator[ExportRow]:
        """Every response (changed at or after `since`), oldest change first, streamed.

        Read in pages of EXPORT_BATCH by (updated_at, id) keyset, each page its own short
        read, so neither the process nor the database holds a long transaction for a big
        export. `since` compares with `updated_at`: a comment added later is in the export.
        """
        after: tuple[datetime, int] | None = None
        while True:
            query = (select(*_EXPORT_COLUMNS)
                     .join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
                     .order_by(RESPONSES.c.updated_at, RESPONSES.c.id)
                     .limit(EXPORT_BATCH))
            if since is not None:
                query = query.where(RESPONSES.c.updated_at >= to_db(since))
            if after is not None:
                query = query.where(
                    (RESPONSES.c.updated_at > after[0])
                    | and_(RESPONSES.c.updated_at == after[0], RESPONSES.c.id > after[1]))
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield _export_row(row._mapping)
            if len(rows) < EXPORT_BATCH:
                return
            after = (rows[-1].updated_at, rows[-1][0])


def _erasures(conn: Connection, sends: Sequence[Any], when: datetime) -> list[dict[str, Any]]:
    """One 'erase' write-back per survey of the person that may have left text in the CRM:
    a hook row written, refused, claimed or tried (a claimed or tried one may have landed),
    or a follow-up created, claimed or tried.

    Its data names only record ids, never what was said: `ticket_id` and `follow_ups` (the
    CRM id of the task / follow-up ticket known now; the job reads it again at write time,
    so a create that lands between this forget and that write is erased too).
    """
    by_id = {r.id: r for r in sends}
    touched: set[int] = set()
    follow_ups: dict[int, str] = {}
    for part in chunks(list(by_id)):
        touched.update(conn.scalars(select(WRITEBACKS.c.send_id).where(
            WRITEBACKS.c.send_id.in_(part), WRITEBACKS.c.kind == "hook",
            or_(WRITEBACKS.c.status != "pending", WRITEBACKS.c.claim_token.is_not(None),
                WRITEBACKS.c.attempts > 0))))
        for row in conn.execute(select(FOLLOW_UPS.c.send_id, FOLLOW_UPS.c.crm_id).where(
                FOLLOW_UPS.c.send_id.in_(part),
                or_(FOLLOW_UPS.c.crm_id.is_not(None), FOLLOW_UPS.c.claim_token.is_not(None),
                    FOLLOW_UPS.c.attempts > 0))):
            touched.add(row.send_id)
            if row.crm_id:
                follow_ups[row.send_id] = row.crm_id
    return [{"source": by_id[i].source, "contact_id": by_id[i].contact_id, "send_id": i,
             "kind": "erase", "created_at": when, "status": "pending", "attempts": 0,
             "data": {"ticket_id": by_id[i].ticket_id,
                      "follow_ups": [follow_ups[i]] if i in follow_ups else []}}
            for i in sorted(touched)]


def _drop_writebacks(conn: Connection, which: ColumnElement[bool]) -> None:
    """Pending rows go (their values must never reach the CRM); past ones stay, emptied of
    what they carried, so `status` never shrinks the count of write-backs already made."""
    conn.execute(delete(WRITEBACKS).where(which, WRITEBACKS.c.status == "pending"))
    conn.execute(update(WRITEBACKS).where(which, WRITEBACKS.c.status != "pending")
                 .values(data={}, last_error=None))


def _export_row(row: Any) -> ExportRow:
    return ExportRow(
        response_id=row[RESPONSES.c.id], program=row[SENDS.c.program],
        survey_type=row[SENDS.c.survey_type], score=row[RESPONSES.c.score],
        category=row[RESPONSES.c.category], comment=row[RESPONSES.c.comment],
        answered_at=from_db_opt(row[RESPONSES.c.answered_at]),
        updated_at=from_db_opt(row[RESPONSES.c.updated_at]),
        sent_at=from_db_opt(row[SENDS.c.sent_at]), closed_at=from_db_opt(row[SENDS.c.closed_at]),
        source=row[SENDS.c.source], contact_id=row[SENDS.c.contact_id],
        ticket_id=row[SENDS.c.ticket_id], owner_id=row[SENDS.c.owner_id],
        team_id=row[SENDS.c.team_id], organization_id=row[SENDS.c.organization_id],
        pipeline=row[SENDS.c.pipeline], language=row[SENDS.c.language],
        owner_id_at_answer=row[RESPONSES.c.owner_id_at_answer],
        team_id_at_answer=row[RESPONSES.c.team_id_at_answer], send_id=row[SENDS.c.id],
        segments=row[SENDS.c.segments] or None,
    )
