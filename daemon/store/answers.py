"""Responses and the write-back outbox: everything on the way back to the CRM.

A response and the write-back rows that carry it to the CRM (the contact's properties and,
for a survey about a ticket, the ticket hook) are written in one transaction, so an answer
is never stored without being queued (or queued without being stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    Table,
    Update,
    func,
    or_,
    select,
    update,
)

from closedloop.daemon.store.answer_statements import answer_statements
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.events import emit_event, response_payload
from closedloop.daemon.store.records import (
    NoResponseYet,
    ResponseRecord,
    UnknownSend,
    WriteBackRecord,
    from_db,
    iso,
    response_record,
    to_db,
    writeback_record,
)
from closedloop.daemon.store.sends import SEND_BY_ID, SENDS, WRITEBACKS, chunks
from closedloop.daemon.store.tables import Base

log = structlog.get_logger(__name__)

RESPONSES: Table = Base.metadata.tables["responses"]
# A ticket hook waits this long after the last click or comment, so the score and the
# comment that usually follows within a minute reach the ticket as one note, not two.
HOOK_SETTLE = timedelta(minutes=5)


class AnswersMixin:
    """Response and write-back methods of `Store`; each call is one short transaction."""

    engine: Engine

    # -- responses -------------------------------------------------------------------------

    def record_response(
        self, send_id: int, score: int, category: str, now: datetime
    ) -> ResponseRecord:
        """Store a score click (a later click updates it) and queue an 'answer' write-back.

        INSERT .. ON CONFLICT (send_id) DO UPDATE rather than check-then-insert: two clicks
        arriving together on two web workers must end as one response, not an IntegrityError.
        In the same transaction: `response.created` for the first click, `response.updated`
        when a later one changes the score (a repeated click of the same score is no change).
        """
        with self.engine.begin() as conn:
            response = record_response_in(conn, send_id, score, category, now)
        log.info("store.response_recorded", send_id=send_id, category=category)
        return response

    def record_comment(self, send_id: int, comment: str, now: datetime) -> ResponseRecord:
        """Attach the follow-up comment to the existing response and queue the full answer."""
        now = to_db(now)
        with self.engine.begin() as conn:
            send = _send_or_raise(conn, send_id)
            previous = conn.scalar(select(RESPONSES.c.comment)
                                   .where(RESPONSES.c.send_id == send_id))
            row = conn.execute(
                update(RESPONSES)
                .where(RESPONSES.c.send_id == send_id)
                .values(comment=comment, updated_at=now)
                .returning(*RESPONSES.c)
            ).mappings().first()
            if row is None:
                raise NoResponseYet(send_id)
            response = response_record(row)
            _enqueue_answer(conn, send, response, now)
            if comment != previous:
                emit_event(conn, "comment.added", response_payload(send, response), now)
        log.info("store.comment_recorded", send_id=send_id)
        return response

    def latest_answered_sends(
        self, source: str, contact_ids: Sequence[str]
    ) -> dict[tuple[str, str, str], tuple[datetime, int]]:
        """(contact id, survey type, program) → (first answer time, send) answered last.

        The write-back folds these per property prefix, so that a late click or comment on
        an older survey never overwrites the answer to a newer one on the contact record.
        """
        best: dict[tuple[str, str, str], tuple[datetime, int]] = {}
        with reading(self.engine) as conn:
            for chunk in chunks(sorted(set(contact_ids))):
                rows = conn.execute(
                    select(SENDS.c.contact_id, SENDS.c.survey_type, SENDS.c.program,
                           SENDS.c.id, RESPONSES.c.answered_at)
                    .join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                    .where(SENDS.c.source == source, SENDS.c.contact_id.in_(chunk))
                )
                for contact_id, survey_type, program, send_id, answered_at in rows:
                    key = (contact_id, survey_type, program)
                    candidate = (from_db(answered_at), send_id)
                    if key not in best or candidate > best[key]:
                        best[key] = candidate
        return best

    def get_response(self, send_id: int) -> ResponseRecord | None:
        with reading(self.engine) as conn:
            row = conn.execute(
                select(RESPONSES).where(RESPONSES.c.send_id == send_id)
            ).mappings().first()
        return None if row is None else response_record(row)

    # -- write-backs -----------------------------------------------------------------------

    def pending_writebacks(
        self, source: str, now: datetime, limit: int
    ) -> list[WriteBackRecord]:
        """Pending rows due now, grouped by contact (oldest first) so callers can coalesce."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(WRITEBACKS)
                .where(
                    WRITEBACKS.c.source == source,
                    WRITEBACKS.c.status == "pending",
                    or_(
                        WRITEBACKS.c.next_attempt_at.is_(None),
                        WRITEBACKS.c.next_attempt_at <= to_db(now),
                    ),
                )
                .order_by(WRITEBACKS.c.contact_id, WRITEBACKS.c.created_at, WRITEBACKS.c.id)
                .limit(limit)
            ).mappings()
            return [writeback_record(row) for row in rows]

    def mark_writebacks_done(self, ids: Sequence[int], now: datetime,
                             token: str | None = None) -> int:
        """Written: done. With `token`, only rows that claim still holds (store/claims.py)."""
        return self._update_pending_writebacks(
            ids, {"status": "done", "written_at": to_db(now), "next_attempt_at": None}, token
        )

    def retry_writebacks_later(
        self, ids: Sequence[int], error: str, next_attempt_at: datetime,
        token: str | None = None,
    ) -> int:
        return self._update_pending_writebacks(
            ids,
            {
                "attempts": WRITEBACKS.c.attempts + 1,
                "last_error": error,
                "next_attempt_at": to_db(next_attempt_at),
            },
            token,
        )

    def reject_writebacks(self, ids: Sequence[int], error: str,
                          token: str | None = None) -> int:
        """The CRM refused these for good: keep them, visible as 'rejected', and move on."""
        return self._update_pending_writebacks(
            ids,
            {"status": "rejected", "attempts": WRITEBACKS.c.attempts + 1, "last_error": error},
            token,
        )

    def _update_pending_writebacks(self, ids: Sequence[int], values: dict[str, Any],
                                   token: str | None) -> int:
        """Update pending rows (held by `token`, if given) and end their claim; how many."""
        changed = 0
        values = {**values, "claim_token": None, "claimed_until": None}
        with self.engine.begin() as conn:
            for part in chunks(list(ids)):
                stmt = update(WRITEBACKS).where(WRITEBACKS.c.id.in_(part),
                                                WRITEBACKS.c.status == "pending")
                if token is not None:
                    stmt = stmt.where(WRITEBACKS.c.claim_token == token)
                changed += conn.execute(stmt.values(values)).rowcount
        return changed

    def answer_counts(self, conn: Connection) -> dict[str, int]:
        """Response, write-back and ticket-hook counts, for `Store.counts`.

        Hooks are counted apart ("hooks.pending"): they wait HOOK_SETTLE on purpose, and
        "writebacks.pending" should mean contact values not yet in the CRM.
        """
        result = {"responses": conn.scalar(select(func.count()).select_from(RESPONSES)) or 0}
        for group in ("writebacks", "hooks"):
            result.update({f"{group}.{s}": 0 for s in ("pending", "done", "rejected")})
        is_hook = WRITEBACKS.c.kind == "hook"
        by_status = conn.execute(
            select(is_hook, WRITEBACKS.c.status, func.count()).group_by(is_hook,
                                                                      WRITEBACKS.c.status)
        )
        for hook, status, count in by_status:
            result[f"{'hooks' if hook else 'writebacks'}.{status}"] = count
        return result

    def writeback_held_counts(self, conn: Connection, now: datetime) -> dict[str, int]:
        """`writebacks.held` / `hooks.held`: pending rows a writer holds under a live lease
        at `now` (one writing now, or one killed between its claim and settling them: the
        crash window; the next writer after the lease counts their write as possibly
        landed). Zero ones left out."""
        is_hook = WRITEBACKS.c.kind == "hook"
        rows = conn.execute(
            select(is_hook, func.count()).where(
                WRITEBACKS.c.status == "pending", WRITEBACKS.c.claim_token.is_not(None),
                WRITEBACKS.c.claimed_until > to_db(now)).group_by(is_hook))
        return {f"{'hooks' if hook else 'writebacks'}.held": int(n) for hook, n in rows if n}


def record_response_in(conn: Connection, send_id: int, score: int, category: str,
                       now: datetime) -> ResponseRecord:
    """`Store.record_response` inside the caller's transaction (the web app's group commit
    runs many in one); raises UnknownSend. Statements are prebuilt (answer_statements.py)."""
    now = to_db(now)
    stmts = answer_statements(conn)
    send = _send_or_raise(conn, send_id)
    before = conn.execute(stmts.before, {"p_send_id": send_id}).first()
    row = conn.execute(stmts.upsert, {"p_send_id": send_id, "p_score": score,
                                      "p_category": category, "p_now": now}).mappings().one()
    response = response_record(row)
    _enqueue_answer(conn, send, response, now)
    if row["inserted"] if conn.dialect.name == "postgresql" else before is None:
        emit_event(conn, "response.created", response_payload(send, response), now)
    elif before is not None and (before.score, before.category) != (score, category):
        emit_event(conn, "response.updated", response_payload(send, response), now)
    return response


def _send_or_raise(conn: Connection, send_id: int) -> RowMapping:
    send = conn.execute(SEND_BY_ID, {"send_id": send_id}).mappings().first()
    if send is None:
        raise UnknownSend(send_id)
    return send


def _enqueue_answer(
    conn: Connection, send: RowMapping, response: ResponseRecord, now: datetime
) -> None:
    """Queue the whole current answer: the write-back job keeps only the latest per contact.

    A survey about a ticket also gets a 'hook' row (tags, note on that ticket). While the
    hook row has not been tried (nor claimed by a writer) yet, a later click or comment
    replaces its data and pushes it back by HOOK_SETTLE instead of queueing a second one.
    """
    data = answer_data(send, response)
    stmts = answer_statements(conn)
    row = {"source": send["source"], "contact_id": send["contact_id"], "send_id": send["id"],
           "created_at": now, "status": "pending", "attempts": 0}
    conn.execute(stmts.writeback, {**row, "kind": "answer", "data": data})
    # the actions job decides whether the answer calls for a follow-up
    conn.execute(stmts.follow_up, {"p_send_id": send["id"], "p_source": send["source"],
                                   "p_program": send["program"], "p_now": now})
    if not send["ticket_id"]:
        return
    hook = {**data, "ticket_id": send["ticket_id"]}
    hook.pop("sent_at")
    settled = now + HOOK_SETTLE
    replaced = conn.execute(stmts.hook_update, {"p_send_id": send["id"], "p_data": hook,
                                                "p_settled": settled}).rowcount
    if not replaced:
        conn.execute(stmts.writeback, {**row, "kind": "hook", "data": hook,
                                       "next_attempt_at": settled})


def answer_data(send: RowMapping, response: ResponseRecord) -> dict[str, Any]:
    """What an answer's write-back carries: the whole current answer."""
    return {
        "survey_type": send["survey_type"],
        "program": send["program"],
        "score": response.score,
        "comment": response.comment,
        "category": response.category,
        "answered_at": iso(response.answered_at),
        "updated_at": iso(response.updated_at),
        "sent_at": iso(send["sent_at"]),
        "language": send["language"],  # the comment's likely language (comment themes)
    }


def unsent_hook_update(send_id: int) -> Update:
    """The UPDATE each answer makes on its survey's hook row while no writer has touched it.

    It runs on the answer's request path: it must find the row by `ix_writebacks_send_id`,
    not by scanning every pending write-back (what made CPU per answer grow with the backlog).
    """
    return update(WRITEBACKS).where(
        WRITEBACKS.c.send_id == send_id, WRITEBACKS.c.kind == "hook",
        WRITEBACKS.c.status == "pending", WRITEBACKS.c.attempts == 0,
        WRITEBACKS.c.claim_token.is_(None))
