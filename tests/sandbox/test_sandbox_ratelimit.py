"""The sandboxes' rate-limit admin: configurable limits, another integration's spend, the
day on HubSpot, and every 429 counted avoidable or unavoidable (the benchmark's figure)."""

from __future__ import annotations

import requests

from closedloop.integration.sandbox._ratelimit import SlidingWindow
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

PIPELINES = "/crm/v3/pipelines/tickets"
AUTH = {"Authorization": "Bearer sandbox-token"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_own_requests_filling_the_window_make_avoidable_429s() -> None:
    """Two of ours fill a window of 2: the 429 after is avoidable, and so is one more
    before anything leaves; once one leaves, room again."""
    clock = Clock()
    window = SlidingWindow(2, 10.0, clock)
    assert [window.acquire().allowed for _ in range(4)] == [True, True, False, False]
    assert window.refusals() == {"avoidable": 2, "unavoidable": 0}
    clock.now = 110.0  # exactly one window after both: they leave (stamps <= cutoff)
    assert window.acquire().allowed


def test_others_spending_what_we_were_told_was_left_is_unavoidable() -> None:
    """Told Remaining 1, then another integration takes it: that 429 is not ours to avoid;
    a second try before anything leaves is (we had been told by then)."""
    clock = Clock()
    window = SlidingWindow(2, 10.0, clock)
    assert window.acquire().remaining == 1
    assert window.spend(5) == 1  # only one slot was free
    assert [window.acquire().allowed, window.acquire().allowed] == [False, False]
    assert window.refusals() == {"avoidable": 1, "unavoidable": 1}


def test_remaining_zero_answer_tells_the_client() -> None:
    """The answer that took the last slot said Remaining 0: a next request before anything
    leaves is avoidable even if others hold slots; a window without headers does not tell."""
    clock = Clock()
    told = SlidingWindow(2, 10.0, clock)
    told.spend(1)
    assert told.acquire().remaining == 0
    assert not told.acquire().allowed
    silent = SlidingWindow(2, 1.0, clock, tells=False)
    silent.spend(1)
    assert silent.acquire().allowed
    assert not silent.acquire().allowed
    assert (told.refusals(), silent.refusals()) == (
        {"avoidable": 1, "unavoidable": 0}, {"avoidable": 0, "unavoidable": 1})


def test_hubspot_admin_limits_spend_and_daily_429() -> None:
    """POST /_sandbox/ratelimit sets the limits and spends as another integration; a spent
    day answers 429 DAILY with Daily-Remaining 0; bad settings are a 400."""
    with HubSpotSandbox(HubSpotState(), rate_limit_per_10s=0) as sb:
        url = sb.url + "/_sandbox/ratelimit"
        state = requests.post(url, json={"per_10s": 3, "daily": 5, "spend": 1,
                                         "spend_daily": 3}, timeout=5).json()
        assert (state["ten_second"]["limit"], state["ten_second"]["remaining"],
                state["daily"]) == (3, 2, {"limit": 5, "remaining": 2, "avoidable": 0,
                                           "unavoidable": 0})
        first = requests.get(sb.url + PIPELINES, headers=AUTH, timeout=5)
        assert (first.headers["X-HubSpot-RateLimit-Remaining"],
                first.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == ("1", "1")
        requests.get(sb.url + PIPELINES, headers=AUTH, timeout=5)
        requests.post(url, json={"per_10s": 100}, timeout=5)
        spent = requests.get(sb.url + PIPELINES, headers=AUTH, timeout=5)
        assert (spent.status_code, spent.json()["policyName"],
                spent.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == (429, "DAILY", "0")
        assert requests.get(url, timeout=5).json()["daily"]["avoidable"] == 1
        bad = requests.post(url, json={"spend": -1}, timeout=5)
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid rate-limit settings")
