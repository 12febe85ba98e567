"""Fixtures of the report tests."""

from __future__ import annotations

import pytest
from insight.report_support import Seeder

from closedloop.daemon.store import Store


@pytest.fixture
def seed(store: Store) -> Seeder:
    return Seeder(store)
