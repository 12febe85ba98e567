"""One answer for the drill-down page, read with the viewer's scope in the WHERE clause.

An answer outside the scope is not read at all: the page learns only that a row exists
without the scope (so the attempt is a scope escape, 403, logged) or not at all (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS, restriction, value_of
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.records import from_db
from closedloop.daemon.web.admin.params import segment_names


@dataclass(frozen=True)
class Answer:
    send_id: int
    program: str
    survey_type: str
    source: str
    ticket_id: str | None
    contact_id: str
    sent_at: datetime | None
    score: int
    category: str
    comment: str | None
    answered_at: datetime
    segments: Mapping[str, str]


class OutOfScope(Exception):
    pass


def read_answer(store: Store, settings: ReportingSettings, send_id: int,
                scope: Scope) -> Answer | None:
    """The answer to send `send_id` if the scope allows it; None if there is no answer;
    OutOfScope if there is one the scope does not allow."""
    names = [n for n in segment_names(settings) if n not in ("brand", "group",
                                                             "group_at_answer")]
    joined = SENDS.join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
    query = (select(SENDS.c.id, SENDS.c.program, SENDS.c.survey_type, SENDS.c.source,
                    SENDS.c.ticket_id, SENDS.c.contact_id, SENDS.c.sent_at, RESPONSES.c.score,
                    RESPONSES.c.category, RESPONSES.c.comment, RESPONSES.c.answered_at,
                    *(value_of(n, settings).label(f"seg_{n}") for n in names))
             .select_from(joined)
             .where(SENDS.c.id == send_id, restriction(settings, scope.allowed)))
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
        if row is None:
            there = conn.scalar(select(exists().where(RESPONSES.c.send_id == send_id)))
            if there:
                raise OutOfScope(send_id)
            return None
    values = row._mapping
    return Answer(
        send_id=row.id, program=row.program, survey_type=row.survey_type, source=row.source,
        ticket_id=row.ticket_id, contact_id=row.contact_id,
        sent_at=from_db(row.sent_at) if row.sent_at else None, score=row.score,
        category=row.category, comment=row.comment, answered_at=from_db(row.answered_at),
        segments={n: str(values[f"seg_{n}"]) for n in names if values[f"seg_{n}"]})
