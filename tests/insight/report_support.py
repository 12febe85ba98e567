"""Report-test helpers: a seeder writing sent surveys and answers through the store's API
(a module of its own: test modules import it, and `conftest` names clash across folders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.insight.dimensions import SENDS
from closedloop.daemon.runtime import Runtime, build_runtime
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


def nps_runtime(tmp_path: Path, clock: Callable[[], datetime]) -> Runtime:
    """A daemon runtime for the reports job: one NPS program, SQLite in `tmp_path`, a CRM
    nobody answers (the job never calls it)."""
    config = parse_config({
        "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": "http://127.0.0.1:9"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "nps", "type": "nps", "source": "hubspot", "company": "Acme"}],
    })
    secrets = read_secrets(config, env={"CLOSEDLOOP_SECRET_KEY": "k" * 32,
                                        "CLOSEDLOOP_HUBSPOT_TOKEN": "pat"})
    return build_runtime(config, secrets, clock=clock)
