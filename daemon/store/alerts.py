"""Alerts in the store: the responses cursor, rolling figures, breach state, delivery queue.

- **Cursor**: evaluation reads responses changed after (updated_at, id) of the last run, in
  keyset pages, so it never re-reads the world; a re-score or a comment comes round again.
- **Figures**: rolling rules ask for counts per segment over a window (or the last N answers
  per segment, a window function), computed in SQL.
- **Queue**: `alert_deliveries` rows, queued once per idempotency key, claimed with a lease
  and a token (FOR UPDATE SKIP LOCKED on PostgreSQL), retried with backoff, kept when dead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db, to_db
from closedloop.daemon.store.sends import SENDS, chunks, insert_for
from closedloop.daemon.store.tables import Base

RESPONSES: Table = Base.metadata.tables["responses"]
CURSORS: Table = Base.metadata.tables["cursors"]
DELIVERIES: Table = Base.metadata.tables["alert_deliveries"]
STATES: Table = Base.metadata.tables["alert_state"]
_CURSOR = ("alerts", "responses")
SENT = ("sent", "outcome_unknown")  # a survey that reached (or may have reached) the person
MAX_ERROR = 300


@dataclass(frozen=True)
class AnswerRow:
    """A response with the send's attribution, as alert rules read it."""

    response_id: int
    send_id: int
    program: str
    survey_type: str
    source: str
    score: int
    category: str
    comment: str | None
    answered_at: datetime
    updated_at: datetime
    ticket_id: str | None
    contact_id: str
    fields: dict[str, str | None]  # the send's segment columns (pipeline, team_id, ...)


@dataclass(frozen=True)
class AlertRow:
    """One queued alert as claimed for delivery."""

    id: int
    rule: str
    kind: str
    segment: str | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


# The segment columns an AnswerRow carries: sends columns (close time), or responses ones.
SEGMENT_COLUMNS = ("program", "source", "language", "pipeline", "team_id", "owner_id",
                   "organization_id")


class AlertsMixin:
    """Alert methods of `Store`; each call is one short transaction."""

    engine: Engine

    # -- the cursor over responses -----------------------------------------------------------

    def alert_cursor(self) -> tuple[datetime, int] | None:
        with reading(self.engine) as conn:
            value = conn.scalar(select(CURSORS.c.value).where(
                CURSORS.c.source == _CURSOR[0], CURSORS.c.name == _CURSOR[1]))
        if not value:
            return None
        moment, _, ident = str(value).rpartition("|")
        return datetime.fromisoformat(moment), int(ident)

    def set_alert_cursor(self, after: tuple[datetime, int], now: datetime) -> None:
        value = f"{after[0].isoformat()}|{after[1]}"
        with self.engine.begin() as conn:
            stmt = insert_for(conn, CURSORS).values(source=_CURSOR[0], name=_CURSOR[1],
                                                    value=value, updated_at=to_db(now))
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["source", "name"],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}))

    def answers_after(self, after: tuple[datetime, int] | None, limit: int,
                      until: datetime | None = None) -> list[AnswerRow]:
        """Responses changed after `after` (updated_at, id) and at or before `until`,
        oldest change first."""
        query = (select(RESPONSES, *(SENDS.c[c] for c in SEGMENT_COLUMNS if c in SENDS.c),
                        SENDS.c.survey_type, SENDS.c.ticket_id, SENDS.c.contact_id)
                 .join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
                 .order_by(RESPONSES.c.updated_at, RESPONSES.c.id).limit(limit))
        if after is not None:
            moment = to_db(after[0])
            query = query.where(or_(RESPONSES.c.updated_at > moment,
                                    and_(RESPONSES.c.updated_at == moment,
                                         RESPONSES.c.id > after[1])))
        if until is not None:
            query = query.where(RESPONSES.c.updated_at <= to_db(until))
        with reading(self.engine) as conn:
            return [_answer(row) for row in conn.execute(query).mappings()]

    # -- rolling figures ---------------------------------------------------------------------

    def answer_figures(self, column: str | None, programs: Sequence[str], survey_type: str,
                       start: datetime | None, end: datetime, last: int | None = None,
                       where: Mapping[str, Sequence[str]] | None = None,
                       through: bool = True) -> dict[str, tuple[int, int, int]]:
        """segment -> (answers, good, bad) of `survey_type` answered in [start, end] (or
        [start, end) when not `through`), or the `last` answers per segment up to `end`.
        good/bad: satisfied/unsatisfied for CSAT, promoters/detractors for NPS."""
        good = {"csat": "satisfied", "nps": "promoter"}.get(survey_type, "")
        bad = {"csat": "unsatisfied", "nps": "detractor"}.get(survey_type, "")
        segment = (_col(column) if column else literal("all")).label("segment")
        until = RESPONSES.c.answered_at <= to_db(end) if through \
            else RESPONSES.c.answered_at < to_db(end)
        conditions = [SENDS.c.survey_type == survey_type, until,
                      *_filters(programs, where)]
        if start is not None:
            conditions.append(RESPONSES.c.answered_at >= to_db(start))
        rank = func.row_number().over(
            partition_by=_col(column) if column else None,
            order_by=(RESPONSES.c.answered_at.desc(), RESPONSES.c.id.desc())).label("rank")
        inner = (select(segment, RESPONSES.c.category, rank)
                 .join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
                 .where(*conditions).subquery())
        query = select(inner.c.segment, func.count(),
                       func.sum(case((inner.c.category == good, 1), else_=0)),
                       func.sum(case((inner.c.category == bad, 1), else_=0))
                       ).group_by(inner.c.segment)
        if last is not None:
            query = query.where(inner.c.rank <= last)
        with reading(self.engine) as conn:
            return {_name(seg): (int(n), int(g or 0), int(b or 0))
                    for seg, n, g, b in conn.execute(query)}

    def send_figures(self, column: str | None, programs: Sequence[str], start: datetime,
                     end: datetime, where: Mapping[str, Sequence[str]] | None = None,
                     ) -> dict[str, tuple[int, int]]:
        """segment -> (surveys sent in [start, end], of those answered). Reminders are not
        surveys: they re-ask the same one."""
        segment = _col(column) if column else literal("all")
        query = (select(segment, func.count(SENDS.c.id), func.count(RESPONSES.c.id))
                 .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
                 .where(SENDS.c.kind == "survey", SENDS.c.status.in_(SENT),
                        SENDS.c.sent_at >= to_db(start), SENDS.c.sent_at <= to_db(end),
                        *_filters(programs, where)))
        if column:
            query = query.group_by(segment)
        with reading(self.engine) as conn:
            return {_name(seg): (int(sent), int(answered))
                    for seg, sent, answered in conn.execute(query) if sent}

    def answered_segments(self, column: str | None, programs: Sequence[str], start: datetime,
                          end: datetime, where: Mapping[str, Sequence[str]] | None = None,
                          ) -> dict[str, int]:
        """segment -> answers given in [start, end], whatever the survey's age."""
        segment = _col(column) if column else literal("all")
        query = (select(segment, func.count())
                 .select_from(RESPONSES.join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
                 .where(RESPONSES.c.answered_at >= to_db(start),
                        RESPONSES.c.answered_at <= to_db(end), *_filters(programs, where)))
        if column:
            query = query.group_by(segment)
        with reading(self.engine) as conn:
            return {_name(seg): int(n) for seg, n in conn.execute(query) if n}

    # -- breach state ------------------------------------------------------------------------

    def alert_states(self, rule: str) -> dict[str, bool]:
        with reading(self.engine) as conn:
            return {row.segment: bool(row.breached) for row in conn.execute(
                select(STATES.c.segment, STATES.c.breached).where(STATES.c.rule == rule))}

    def set_alert_state(self, rule: str, segment: str, breached: bool, value: float | None,
                        now: datetime) -> None:
        with self.engine.begin() as conn:
            stmt = insert_for(conn, STATES).values(rule=rule, segment=segment, breached=breached,
                                                   value=value, since=to_db(now),
                                                   updated_at=to_db(now))
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["rule", "segment"],
                set_={"breached": stmt.excluded.breached, "value": stmt.excluded.value,
                      "since": stmt.excluded.since, "updated_at": stmt.excluded.updated_at}))

    # -- the delivery queue ------------------------------------------------------------------

    def recent_alerts(self, rule: str, since: datetime) -> int:
        """Alerts of `rule` queued after `since` (delivered, pending or held): the flood gate."""
        with reading(self.engine) as conn:
            return int(conn.scalar(select(func.count()).where(
                DELIVERIES.c.rule == rule, DELIVERIES.c.created_at > to_db(since),
                DELIVERIES.c.kind != "digest")) or 0)

    def queue_alert(self, idem_key: str, rule: str, kind: str, segment: str | None,
                    payload: dict[str, Any], now: datetime, send_id: int | None = None,
                    held: bool = False) -> bool:
        """Queue an alert once per key; False if that key was queued before. `held`: part
        of a flood, delivered in the rule's next digest."""
        with self.engine.begin() as conn:
            inserted = conn.execute(insert_for(conn, DELIVERIES).values(
                idem_key=idem_key[:255], rule=rule, kind=kind, segment=segment,
                send_id=send_id, payload=payload, status="held" if held else "pending",
                attempts=0, created_at=to_db(now),
            ).on_conflict_do_nothing(index_elements=["idem_key"])
                .returning(DELIVERIES.c.id)).first()
        return inserted is not None

    def fold_digest(self, rule: str, window: timedelta, now: datetime,
                    build: Callable[[list[AlertRow]], dict[str, Any]]) -> int:
        """When the oldest held alert of `rule` is `window` old, fold every held alert into
        one digest row (payload from `build`); returns how many were folded."""
        with self.engine.begin() as conn:
            oldest = conn.scalar(select(func.min(DELIVERIES.c.created_at)).where(
                DELIVERIES.c.rule == rule, DELIVERIES.c.status == "held"))
            if oldest is None or from_db(oldest) + window > now:
                return 0
            rows = [_alert(r) for r in conn.execute(
                select(DELIVERIES).where(DELIVERIES.c.rule == rule,
                                         DELIVERIES.c.status == "held")
                .order_by(DELIVERIES.c.id).with_for_update()).mappings()]
            conn.execute(update(DELIVERIES).where(
                DELIVERIES.c.id.in_([r.id for r in rows])).values(status="digested"))
            conn.execute(DELIVERIES.insert().values(
                idem_key=f"{rule}:digest:{rows[0].id}-{rows[-1].id}", rule=rule, kind="digest",
                segment=None, send_id=None, payload=build(rows), status="pending",
                attempts=0, created_at=to_db(now)))
        return len(rows)

    def claim_alerts(self, now: datetime, limit: int, lease: timedelta
                     ) -> tuple[str, list[AlertRow]]:
        """Claim up to `limit` due pending alerts for one deliverer, oldest first."""
        when = to_db(now)
        token = str(uuid.uuid4())
        with self.engine.begin() as conn:
            ids = list(conn.scalars(
                select(DELIVERIES.c.id).where(
                    DELIVERIES.c.status == "pending",
                    or_(DELIVERIES.c.next_attempt_at.is_(None),
                        DELIVERIES.c.next_attempt_at <= when),
                    or_(DELIVERIES.c.claimed_until.is_(None),
                        DELIVERIES.c.claimed_until <= when))
                .order_by(DELIVERIES.c.id).limit(limit).with_for_update(skip_locked=True)))
            rows: list[AlertRow] = []
            for part in chunks(ids):
                rows += [_alert(r) for r in conn.execute(
                    update(DELIVERIES).where(DELIVERIES.c.id.in_(part),
                                             DELIVERIES.c.status == "pending")
                    .values(claim_token=token, claimed_until=when + lease)
                    .returning(*DELIVERIES.c)).mappings()]
        return token, sorted(rows, key=lambda r: r.id)

    def settle_alert(self, alert_id: int, token: str, now: datetime, *,
                     error: str | None = None, retry_at: datetime | None = None) -> bool:
        """Delivered (no error), retried at `retry_at`, or dead (error, no retry_at). Only the
        claim's holder settles; False if the claim was lost."""
        values: dict[str, Any] = {"claim_token": None, "claimed_until": None}
        if error is None:
            values.update(status="delivered", delivered_at=to_db(now), last_error=None)
        else:
            values.update(last_error=error[:MAX_ERROR], attempts=DELIVERIES.c.attempts + 1,
                          status="pending" if retry_at else "dead",
                          next_attempt_at=to_db(retry_at) if retry_at else None)
        with self.engine.begin() as conn:
            done = conn.execute(update(DELIVERIES).where(
                DELIVERIES.c.id == alert_id, DELIVERIES.c.claim_token == token,
                DELIVERIES.c.status == "pending").values(values)).rowcount
        return bool(done)

    def alert_counts(self, conn: Connection) -> dict[str, int]:
        """alerts.<status> for status, plus alerts.retrying (pending after a failure)."""
        result = {"alerts.pending": 0, "alerts.delivered": 0, "alerts.dead": 0,
                  "alerts.retrying": 0}
        retried = case((DELIVERIES.c.attempts > 0, 1), else_=0).label("failed")
        for status, failed, count in conn.execute(
                select(DELIVERIES.c.status, retried, func.count())
                .group_by(DELIVERIES.c.status, retried)):
            result[f"alerts.{status}"] = result.get(f"alerts.{status}", 0) + count
            if status == "pending" and failed:
                result["alerts.retrying"] += count
        return result

    def alert_rows(self) -> list[dict[str, Any]]:
        """Every queued alert as a dict (tests and `status --json` detail)."""
        with reading(self.engine) as conn:
            return [dict(r) for r in conn.execute(
                select(DELIVERIES).order_by(DELIVERIES.c.id)).mappings()]


def forget_alerts(conn: Connection, send_ids: Sequence[int]) -> int:
    """`forget`: queued alerts quoting these surveys go; sent ones keep no payload."""
    dropped = 0
    for part in chunks(list(send_ids)):
        which = DELIVERIES.c.send_id.in_(part)
        dropped += conn.execute(delete(DELIVERIES).where(
            which, DELIVERIES.c.status.in_(("pending", "held")))).rowcount
        conn.execute(update(DELIVERIES).where(which).values(payload={}, last_error=None))
    return dropped


def _filters(programs: Sequence[str], where: Mapping[str, Sequence[str]] | None) -> list[Any]:
    out: list[Any] = []
    if programs:
        out.append(SENDS.c.program.in_(list(programs)))
    for column, values in (where or {}).items():
        out.append(_col(column).in_(list(values)))
    return out


def _col(name: str) -> Any:
    """A segment column: the send's (attribution at close), else the response's."""
    return SENDS.c[name] if name in SENDS.c else RESPONSES.c[name]


def _name(segment: object) -> str:
    return "" if segment is None else str(segment)


def _answer(row: Any) -> AnswerRow:
    return AnswerRow(
        response_id=row["id"], send_id=row["send_id"], program=row["program"],
        survey_type=row["survey_type"], source=row["source"], score=row["score"],
        category=row["category"], comment=row["comment"],
        answered_at=from_db(row["answered_at"]), updated_at=from_db(row["updated_at"]),
        ticket_id=row["ticket_id"], contact_id=row["contact_id"],
        fields={c: row[c] for c in SEGMENT_COLUMNS if c in row})


def _alert(row: Any) -> AlertRow:
    return AlertRow(id=row["id"], rule=row["rule"], kind=row["kind"], segment=row["segment"],
                    payload=dict(row["payload"] or {}), attempts=int(row["attempts"]),
                    created_at=from_db(row["created_at"]))
