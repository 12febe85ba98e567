"""Helpers for the webhook tests: a clock origin, outbox rows, one send taken to 'sent'."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closedloop.daemon.store import NewSend, Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)

SentSurvey = Callable[..., int]


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def sent_survey(store: Store) -> SentSurvey:
    """Add one send and take it through to 'sent' at `at` (default T0); returns its id."""

    def make(key: str = "a", at: datetime = T0, **overrides: Any) -> int:
        fields: dict[str, Any] = {
            "idem_key": key, "program": "support-csat", "survey_type": "csat",
            "source": "hubspot", "contact_id": f"c-{key}", "due_at": at, "created_at": at,
            "ticket_id": f"t-{key}", "email": f"{key}@example.com",
        }
        fields.update(overrides)
        store.add_sends([NewSend(**fields)])
        [send] = store.claim_due_sends(at, 1, LEASE)
        assert store.begin_sending(send.id, at)
        store.mark_sent(send.id, at, f"<{key}@x>")
        return send.id

    return make


@pytest.fixture
def replica(store: Store) -> Iterator[Store]:
    """A second Store on the same database: another daemon process, with its own pool."""
    other = Store(store.engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()
