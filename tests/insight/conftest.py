"""Fixtures of the report tests."""

from __future__ import annotations

import pytest

from closedloop.daemon.store import Store
from insight.report_support import Seeder


@pytest.fixture
def seed(store: Store) -> Seeder:
    return Seeder(store)
