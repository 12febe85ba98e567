"""Report-test helpers: a seeder writing sent surveys and answers through the store's API
(a module of its own: test modules import it, and `conftest` names clash across folders)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from closedloop.daemon.insight.dimensions import SENDS
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import SurveyType, category

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


@dataclass
class Seeder:
    store: Store
    count: int = 0

    def survey(self, *, sent_at: datetime | None = T0, score: int | None = None,
               answered_at: datetime | None = None, program: str = "nps",
               survey_type: str = "nps", comment: str | None = None,
               reminders: tuple[timedelta, ...] = (), **fields: Any) -> int:
        """One survey (sent at `sent_at` unless None), answered with `score` if given."""
        self.count += 1
        key = f"k{self.count}"
        values: dict[str, Any] = {
            "idem_key": key, "program": program, "survey_type": survey_type,
            "source": "hubspot", "contact_id": f"c{self.count}", "ticket_id": f"t{self.count}",
            "email": f"p{self.count}@example.com", "due_at": T0 - timedelta(days=400),
            "created_at": T0 - timedelta(days=400), **fields}
        self.store.add_sends([NewSend(**values)])
        with self.store.engine.connect() as conn:
            send_id = int(conn.scalar(select(SENDS.c.id).where(SENDS.c.idem_key == key)) or 0)
        if sent_at is not None:
            self.store.mark_sent(send_id, sent_at, f"m{send_id}", reminders)
        if score is not None:
            self.answer(send_id, score, answered_at or sent_at or T0, survey_type)
            if comment is not None:
                self.store.record_comment(send_id, comment, answered_at or sent_at or T0)
        return send_id

    def answer(self, send_id: int, score: int, at: datetime, survey_type: str = "nps") -> None:
        self.store.record_response(send_id, score, category(SurveyType(survey_type), score), at)
