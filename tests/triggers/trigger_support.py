"""Constants shared by the trigger tests."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TOKEN = "triggers-token"
