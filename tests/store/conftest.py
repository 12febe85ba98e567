"""Store-test helpers: a fixed clock origin, a factory for outbox rows, a second replica."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from closedloop.daemon.store import NewSend, Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

MakeSend = Callable[..., NewSend]


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def make_send() -> MakeSend:
    """NewSend with plausible defaults; keyword arguments override any field."""

    def make(key: str, **overrides: Any) -> NewSend:
        fields: dict[str, Any] = {
            "idem_key": key,
            "program": "support-csat",
            "survey_type": "csat",
            "source": "hubspot",
            "contact_id": f"c-{key}",
            "due_at": T0,
            "created_at": T0,
            "ticket_id": f"t-{key}",
            "email": f"{key}@example.com",
        }
        fields.update(overrides)
        return NewSend(**fields)

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for a migration test to build at an old revision: a SQLite file, or the
    PostgreSQL test database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


@pytest.fixture
def replica(store: Store) -> Iterator[Store]:
    """A second Store on the same database: another daemon process, with its own pool."""
    other = Store(store.engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()
