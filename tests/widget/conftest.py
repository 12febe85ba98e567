"""Fixtures for the widget tests: a real SQLite store for the HTTP tests (the store-level
tests use the repo-wide SQLite + PostgreSQL `store`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from closedloop.daemon.store import Store


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    store.migrate()
    yield store
    store.dispose()
