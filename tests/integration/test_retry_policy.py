"""The one retry policy (integration.retry) and HubSpot's 429 wait rules, without HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from closedloop.integration._translate import redact
from closedloop.integration.errors import AuthError, RateLimited, RecordRejected, TransientError
from closedloop.integration.hubspot._errors import rate_limit_wait
from closedloop.integration.retry import RetryPolicy, call_with_retry


class Flaky:
    """Raises the given errors in turn, then returns "done"; counts calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def _policy(waits: list[float], *, base: float = 0.5, cap: float = 30.0, max_attempts: int = 5,
            max_delay: float = 60.0) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, max_delay=max_delay, base=base, cap=cap,
                       sleep=waits.append)


def test_rate_limited_waits_its_hint_then_succeeds() -> None:
    """RateLimited(retry_after=3) sleeps exactly 3 s before the next attempt."""
    waits: list[float] = []
    fn = Flaky(RateLimited("429", retry_after=3.0))
    assert call_with_retry(fn, policy=_policy(waits), op="t") == "done"
    assert (waits, fn.calls) == ([3.0], 2)


def test_wait_longer_than_budget_raises_at_once() -> None:
    """A hint beyond max_delay (HubSpot DAILY) is raised without sleeping: the job pauses."""
    waits: list[float] = []
    fn = Flaky(RateLimited("daily", retry_after=40_000.0))
    with pytest.raises(RateLimited) as caught:
        call_with_retry(fn, policy=_policy(waits, max_delay=60.0), op="t")
    assert (caught.value.retry_after, waits, fn.calls) == (40_000.0, [], 1)


def test_backoff_grows_with_jitter_and_respects_cap() -> None:
    """Transient errors back off base*2**n with equal jitter, never over `cap`."""
    waits: list[float] = []
    fn = Flaky(*[TransientError("502") for _ in range(5)])
    call_with_retry(fn, policy=_policy(waits, base=1.0, cap=4.0, max_attempts=6,
                                       max_delay=100.0), op="t")
    bounds = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.0, 4.0), (2.0, 4.0)]
    assert len(waits) == 5
    assert all(lo <= w <= hi for w, (lo, hi) in zip(waits, bounds, strict=True))


def test_total_delay_budget_stops_retries() -> None:
    """Retries stop when the next sleep would pass max_delay; the last error is raised."""
    waits: list[float] = []
    fn = Flaky(*[RateLimited("429", retry_after=4.0) for _ in range(10)])
    with pytest.raises(RateLimited):
        call_with_retry(fn, policy=_policy(waits, max_attempts=10, max_delay=10.0), op="t")
    assert (waits, fn.calls) == ([4.0, 4.0], 3)


@pytest.mark.parametrize("error", [AuthError("401"), RecordRejected("409", 409),
                                   RecordRejected("422", 422), ValueError("bug")])
def test_non_transient_errors_are_never_retried(error: Exception) -> None:
    """Auth, rejected records (409/422 included) and bugs fail on the first call."""
    waits: list[float] = []
    fn = Flaky(error)
    with pytest.raises(type(error)):
        call_with_retry(fn, policy=_policy(waits), op="t")
    assert (waits, fn.calls) == ([], 1)


NOW = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(("policy", "headers", "expected"), [
    ("TEN_SECONDLY_ROLLING", {}, 10.0),
    ("SECONDLY", {}, 1.0),
    ("TEN_SECONDLY_ROLLING", {"Retry-After": "3"}, 3.0),
    ("DAILY", {"Retry-After": "3"}, 2 * 3600.0 + 3600.0),  # to next UTC midnight, plus 1 h
    ("", {}, 10.0),
])
def test_hubspot_429_wait_by_policy_name(policy: str, headers: dict[str, str],
                                         expected: float) -> None:
    """The wait after a 429 comes from policyName; Retry-After wins except for DAILY."""
    body = json.dumps({"status": "error", "policyName": policy} if policy else {})
    assert expected == rate_limit_wait(body, headers, NOW)


def test_redact_removes_email_addresses() -> None:
    """CRM messages lose e-mail addresses before they are logged or stored."""
    assert redact("Email ann.lee+x@mail.example.com is invalid") == "Email <email> is invalid"
