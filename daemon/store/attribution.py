"""Attribution at rating time: who held a ticket when its answer was written back.

The poll stores the ticket's owner and team at close (sends.owner_id / team_id). An agent
may hand the ticket on before the customer answers, so the write-back reads the ticket
again, in batch, the first time it writes an answer's ticket hook, and stores what it read
beside the close-time pair (responses.owner_id_at_answer / team_id_at_answer). It is read
once: `attributed_at` marks it done, so a retried write-back or a re-score never reads it
again (the first answer is the rating time). The follow-up job, which runs minutes before
the settled hook, reads and stores it first for the answers it creates work for (and fills
its last call with other pending hooks' answers), so the hook then finds them done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import structlog
from sqlalchemy import Engine, bindparam, select, update

from closedloop.daemon.store.answers import RESPONSES
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import AttributedResponse, response_record, to_db
from closedloop.daemon.store.sends import SENDS, WRITEBACKS, chunks

log = structlog.get_logger(__name__)

Pair = tuple[str | None, str | None]  # (owner id, team id)
# One statement for a round's answers (executemany; it was built once per answer). Bind
# names start "b_" so they never clash with a column's.
_ATTRIBUTE = (update(RESPONSES)
              .where(RESPONSES.c.send_id == bindparam("b_send"),
                     RESPONSES.c.attributed_at.is_(None))
              .values(owner_id_at_answer=bindparam("b_owner"),
                      team_id_at_answer=bindparam("b_team"),
                      attributed_at=bindparam("b_at", type_=RESPONSES.c.attributed_at.type)))


class AttributionMixin:
    """Attribution methods of `Store`; each call is one short transaction."""

    engine: Engine

    def unattributed_sends(self, send_ids: Sequence[int]) -> list[int]:
        """Of these sends, the answered ones whose ticket attribution was not read yet."""
        out: list[int] = []
        with reading(self.engine) as conn:
            for part in chunks(sorted(set(send_ids))):
                out += conn.scalars(
                    select(RESPONSES.c.send_id)
                    .where(RESPONSES.c.send_id.in_(part), RESPONSES.c.attributed_at.is_(None))
                ).all()
        return out

    def unattributed_hook_tickets(self, source: str, limit: int) -> dict[int, str]:
        """send id -> ticket id of answers whose ticket hook is still pending and whose
        attribution was not read yet (oldest first): a reader that reads some tickets
        anyway (the follow-up job) fills its batch calls with these, so the hook's own read
        later finds them done instead of costing calls of its own."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(SENDS.c.id, SENDS.c.ticket_id)
                .join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                .where(RESPONSES.c.attributed_at.is_(None), SENDS.c.source == source,
                       SENDS.c.ticket_id.is_not(None),
                       select(WRITEBACKS.c.id).where(
                           WRITEBACKS.c.send_id == SENDS.c.id, WRITEBACKS.c.kind == "hook",
                           WRITEBACKS.c.status == "pending").exists())
                .order_by(SENDS.c.id).limit(max(0, limit))).all()
        return {int(send_id): str(ticket) for send_id, ticket in rows}

    def record_attribution(self, found: Mapping[int, Pair], now: datetime) -> int:
        """Store (owner, team) per send's response, once: a response already attributed
        keeps its first reading (another replica may have been first). Returns how many."""
        if not found:
            return 0
        at = to_db(now)
        with self.engine.begin() as conn:
            done = max(conn.execute(_ATTRIBUTE, [
                {"b_send": send_id, "b_owner": owner, "b_team": team, "b_at": at}
                for send_id, (owner, team) in sorted(found.items())]).rowcount, 0)
        if done:
            log.info("store.attributed", responses=done)
        return done

    def attributed_response(self, send_id: int) -> AttributedResponse | None:
        """The response to `send_id` with who held its ticket at close and at answer time."""
        with reading(self.engine) as conn:
            row = conn.execute(
                select(RESPONSES, SENDS.c.program, SENDS.c.survey_type, SENDS.c.source,
                       SENDS.c.contact_id, SENDS.c.ticket_id, SENDS.c.owner_id, SENDS.c.team_id)
                .join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
                .where(RESPONSES.c.send_id == send_id)
            ).mappings().first()
        if row is None:
            return None
        response = response_record(row)
        return AttributedResponse(
            response=response, program=row["program"], survey_type=row["survey_type"],
            source=row["source"], contact_id=row["contact_id"], ticket_id=row["ticket_id"],
            owner_id_at_close=row["owner_id"], team_id_at_close=row["team_id"],
            owner_id_at_answer=response.owner_id_at_answer,
            team_id_at_answer=response.team_id_at_answer,
            attributed=response.attributed_at is not None)
