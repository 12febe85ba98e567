"""Answers for the theme tests, written through the store's own methods (a module of its
own: `conftest` names clash across test folders)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Base

SENDS = Base.metadata.tables["sends"]
RESPONSE_THEMES = Base.metadata.tables["response_themes"]


def answer(store: Store, key: str, score: int, category: str, comment: str | None,
           at: datetime, **send: Any) -> int:
    """A send (CSAT, language en, unless `send` says otherwise) answered at `at` with this
    score and comment; returns the response id."""
    fields: dict[str, Any] = {
        "idem_key": key, "program": "support-csat", "survey_type": "csat",
        "source": "hubspot", "contact_id": f"c-{key}", "due_at": at, "created_at": at,
        "ticket_id": f"t-{key}", "email": f"{key}@example.com", "language": "en"}
    fields.update(send)
    store.add_sends([NewSend(**fields)])
    with store.engine.connect() as conn:
        send_id = conn.scalar(select(SENDS.c.id).where(SENDS.c.idem_key == key))
    assert send_id is not None
    response = store.record_response(send_id, score, category, at)
    if comment is not None:
        store.record_comment(send_id, comment, at)
    return response.id


def stored(store: Store) -> dict[int, set[str]]:
    """response id -> its stored themes."""
    out: dict[int, set[str]] = {}
    with store.engine.connect() as conn:
        for rid, theme in conn.execute(select(RESPONSE_THEMES.c.response_id,
                                              RESPONSE_THEMES.c.theme)):
            out.setdefault(rid, set()).add(theme)
    return out
