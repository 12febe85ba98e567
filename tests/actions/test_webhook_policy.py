"""The delivery policy alone: the backoff curve and the verdict on each kind of answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.actions.webhooks.policy import (
    CLIENT_ERROR_ATTEMPTS,
    MAX_ATTEMPTS,
    backoff,
    judge,
    parse_retry_after,
)

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_backoff_doubles_from_30s_caps_at_12h_and_spans_more_than_a_day() -> None:
    """30 s, 1 min, 2 min, … 8.5 h, then 12 h; the MAX_ATTEMPTS tries span over 24 h."""
    waits = [backoff(n) for n in range(1, MAX_ATTEMPTS)]
    assert waits[:3] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert (waits[-2], waits[-1]) == (timedelta(seconds=30 * 2 ** 10), timedelta(hours=12))
    assert sum(waits, timedelta()) == timedelta(seconds=104_610)  # about 29 h
    assert sum(waits[:-1], timedelta()) < timedelta(hours=24) <= sum(waits, timedelta())
    assert backoff(1000) == timedelta(hours=12)  # a replayed row's count never overflows


@pytest.mark.parametrize(("status", "attempt", "expected"), [
    (200, 1, "delivered"), (204, MAX_ATTEMPTS, "delivered"), (299, 1, "delivered"),
    (410, 1, "dead"),
    (400, CLIENT_ERROR_ATTEMPTS - 1, "pending"), (400, CLIENT_ERROR_ATTEMPTS, "dead"),
    (401, CLIENT_ERROR_ATTEMPTS, "dead"), (404, 1, "pending"),
    (408, CLIENT_ERROR_ATTEMPTS, "pending"), (429, CLIENT_ERROR_ATTEMPTS, "pending"),
    (500, MAX_ATTEMPTS - 1, "pending"), (500, MAX_ATTEMPTS, "dead"),
    (503, 1, "pending"), (None, MAX_ATTEMPTS - 1, "pending"), (None, MAX_ATTEMPTS, "dead"),
    (302, 1, "pending"),  # a redirect is not followed: an answer to retry, not a delivery
])
def test_verdict_per_answer_on_both_sides_of_each_budget(
        status: int | None, attempt: int, expected: str) -> None:
    """2xx delivered; 410 dead at once; other 4xx dead at the 3rd try (408/429 are not
    refusals); 5xx, 3xx and no answer retried until the MAX_ATTEMPTS-th try."""
    assert judge(status, attempt, NOW).status == expected


def test_retry_after_is_honoured_when_longer_and_capped_at_a_day() -> None:
    """On a 429 or 503 (not another 5xx), in seconds or an HTTP date; a shorter one than the
    backoff leaves the backoff; a week is cut to a day; garbage reads as nothing."""
    assert judge(429, 1, NOW, "120").retry_at == NOW + timedelta(minutes=2)
    assert judge(429, 1, NOW, "5").retry_at == NOW + timedelta(seconds=30)
    assert judge(429, 1, NOW, "604800").retry_at == NOW + timedelta(days=1)
    assert judge(503, 1, NOW, "3600").retry_at == NOW + timedelta(hours=1)
    assert judge(500, 1, NOW, "3600").retry_at == NOW + timedelta(seconds=30)
    assert parse_retry_after("Fri, 20 Nov 2026 10:00:00 GMT", NOW) == timedelta(hours=1)
    assert parse_retry_after("soon", NOW) == timedelta(0)
