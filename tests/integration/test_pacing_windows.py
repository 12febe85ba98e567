"""The pacer's maths on a fake clock: both sides of every window edge, header corrections
up and down, share rounding, Retry-After, the day budget and its probe."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from closedloop.integration.hubspot._pacing import hubspot_pacer, kind_of, read_answer
from closedloop.integration.pacing import (
    Answer,
    DayBudget,
    Observation,
    Pacer,
    Sent,
    Throttled,
    Window,
    allowed,
)
from closedloop.integration.zendesk._pacing import read_answer as zendesk_answer


class FakeTime:
    """A clock that only moves when slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _sent(window: Window, at: float, answered: float) -> Sent:
    sent = Sent(at, answered)
    window.add(sent)
    return sent


@pytest.mark.parametrize(("limit", "share", "expected"), [
    (190, 1.0, 190), (190, 0.9, 171), (100, 0.9, 90), (5, 0.9, 4), (5, 0.8, 4),
    (10, 0.7, 7), (3, 0.1, 1), (1, 0.5, 1), (0, 0.9, 0),
])
def test_share_rounds_down_but_keeps_one(limit: int, share: float, expected: int) -> None:
    """Our part is floor(share x limit) (0.7 x 10 is 7, not 6.999...), never below 1."""
    assert expected == allowed(limit, share)


def test_own_request_leaves_exactly_one_interval_after_its_answer() -> None:
    """Full at limit; at answered + interval the slot is free again, a hair before not."""
    window = Window("w", 2, 10.0, 1.0)
    _sent(window, 0.0, 0.5)
    assert window.room(0.6) == 1
    _sent(window, 0.6, 1.0)
    assert window.room(5.0) == 0
    assert window.next_change(5.0) == 10.5
    assert window.room(10.499) == 0
    assert window.room(10.5) == 1
    assert window.room(11.0) == 2


def test_in_flight_request_holds_its_slot_until_answered() -> None:
    """A request without an answer is in the window however long it takes; only an
    answer can free it (next_change None)."""
    window = Window("w", 1, 1.0, 1.0)
    pending = Sent(0.0)
    window.add(pending)
    assert (window.room(50.0), window.next_change(50.0)) == (0, None)
    pending.answered = 50.0
    assert (window.room(50.5), window.room(51.0)) == (0, 1)


@pytest.mark.parametrize(("remaining", "room"), [(0, 0), (1, 1), (2, 2)])
def test_remaining_zero_versus_one(remaining: int, room: int) -> None:
    """The CRM's Remaining caps our room when others spent part of the window."""
    window = Window("w", 10, 10.0, 1.0)
    _sent(window, 0.0, 0.1)
    window.observe(0.1, Observation(remaining=remaining))
    assert room == window.room(0.2)


def test_observation_counts_our_answered_requests_and_expires() -> None:
    """Remaining 1 seen with 2 of ours counted: when one of ours leaves, 2 are free;
    after a whole interval the observation is dropped and only our share counts."""
    window = Window("w", 10, 10.0, 1.0)
    _sent(window, 0.0, 1.0)
    _sent(window, 2.0, 3.0)
    window.observe(3.0, Observation(remaining=1))
    assert window.room(3.5) == 1
    assert window.room(10.999) == 1  # ours from 0.0 still in (answered 1.0 + 10 > 10.999)
    assert window.room(11.0) == 2
    assert window.next_change(11.0) == 13.0
    assert window.room(13.0) == 10


def test_requests_sent_after_an_observation_are_not_in_its_count() -> None:
    """Remaining 3, then two more of ours in flight: one is left."""
    window = Window("w", 10, 10.0, 1.0)
    window.observe(0.0, Observation(remaining=3))
    window.add(Sent(0.1))
    window.add(Sent(0.2))
    assert window.room(0.3) == 1


@pytest.mark.parametrize(("header", "room"), [(250, 249), (100, 99), (190, 189)])
def test_header_limit_corrects_the_plan_both_ways(header: int, room: int) -> None:
    """X-...-Max replaces the configured limit, up (an add-on) or down (a smaller plan)."""
    window = Window("w", 190, 10.0, 1.0)
    _sent(window, 0.0, 0.1)
    window.observe(0.1, Observation(limit=header))
    assert room == window.room(0.2)


def test_header_interval_corrects_the_window() -> None:
    """Interval-Milliseconds 5000 makes our requests leave after 5 s, not 10."""
    window = Window("w", 1, 10.0, 1.0)
    _sent(window, 0.0, 0.0)
    window.observe(0.0, Observation(interval=5.0))
    assert (window.room(4.999), window.room(5.0)) == (0, 1)


def test_retry_after_closes_the_window_until_then() -> None:
    """A 429's Retry-After: no room before now + wait, our share at it (not a whole
    interval later, as a Remaining 0 without Retry-After would mean)."""
    window = Window("w", 100, 60.0, 0.9)
    window.observe(1.0, Observation(remaining=0, retry_after=30.0))
    assert (window.room(30.999), window.next_change(30.999)) == (0, 31.0)
    assert window.room(31.0) == 90


def test_day_budget_keeps_the_reserve_and_probes() -> None:
    """Daily 1000, share 0.9: stop when 100 remain for the others; one probe every 900 s."""
    day = DayBudget(1000, 0.9)
    day.observe(0.0, Observation(remaining=102, limit=1000))
    assert day.room(1.0) == 2
    day.add(1.0)
    day.done()
    day.observe(1.5, Observation(remaining=101))
    assert day.room(2.0) == 1
    day.observe(2.0, Observation(remaining=100))
    assert day.room(2.0) <= 0
    assert day.next_change(2.0) == 900.0 + 2.0
    assert day.room(901.999) <= 0
    assert day.room(902.0) == 1
    day.add(902.0)  # the probe
    assert day.room(903.0) <= 0
    day.done()
    day.observe(903.0, Observation(remaining=1000))  # the day has turned
    assert day.room(903.0) == 900


def _pacer(time: FakeTime, limit: int = 3, share: float = 1.0, max_wait: float = 60.0) -> Pacer:
    def reader(kind: str, status: int, headers: Mapping[str, str], body: bytes) -> Answer:
        return read_answer(kind, status, headers, body)

    return Pacer("hubspot", [Window("ten_second", limit, 10.0, share)],
                 {"crm": ("ten_second",)}, reader, max_wait=max_wait, clock=time.clock,
                 sleep=time.sleep)


def test_pacer_waits_for_the_window_instead_of_sending_into_a_429() -> None:
    """Three go at once, the fourth waits until the first answer is 10 s old."""
    time = FakeTime()
    pacer = _pacer(time)
    for _ in range(3):
        pacer.done(pacer.acquire("crm"), 200, {})
    time.now = 0.25
    ticket = pacer.acquire("crm")
    assert (ticket.sent.sent, pacer.stats.waits) == (10.0, 1)
    assert time.slept == [9.75]


def test_pacer_raises_throttled_past_max_wait_without_sending() -> None:
    """A wait longer than max_wait raises Throttled (a RateLimited that is not a 429)."""
    time = FakeTime()
    pacer = _pacer(time, limit=1, max_wait=5.0)
    pacer.done(pacer.acquire("crm"), 200, {})
    with pytest.raises(Throttled) as info:
        pacer.acquire("crm")
    assert (info.value.retry_after, pacer.stats.throttled,
                            pacer.stats.requests) == (10.0, 1, 1)


def test_a_429_from_elsewhere_holds_every_job_until_a_slot_frees() -> None:
    """TEN_SECONDLY_ROLLING 429 with one of ours in the window: wait until ours leaves."""
    time = FakeTime()
    pacer = _pacer(time, limit=190)
    pacer.done(pacer.acquire("crm"), 200, {"X-HubSpot-RateLimit-Remaining": "5"})
    time.now = 1.0
    body = b'{"policyName": "TEN_SECONDLY_ROLLING"}'
    pacer.done(pacer.acquire("crm"), 429, {"X-HubSpot-RateLimit-Remaining": "0"}, body)
    assert pacer.stats.rate_limited == 1
    ticket = pacer.acquire("crm")
    assert ticket.sent.sent == 10.0  # our first request left the window at 0 + 10


def test_hubspot_reader_and_kinds() -> None:
    """Headers to windows; policyName picks the window of a 429; search has its own."""
    seen = read_answer("crm", 200, {"X-HubSpot-RateLimit-Max": "190",
                                    "X-HubSpot-RateLimit-Remaining": "17",
                                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                                    "X-HubSpot-RateLimit-Daily": "625000",
                                    "X-HubSpot-RateLimit-Daily-Remaining": "600000"}, b"")
    assert (Observation(17, 190, 10.0), Observation(600000, 625000)) == (
        seen.windows["ten_second"], seen.day)
    search = read_answer("search", 429, {}, b'{"policyName": "SECONDLY"}')
    assert Observation(remaining=0) == search.windows["search"]
    daily = read_answer("crm", 429, {}, b'{"policyName": "DAILY"}')
    assert Observation(remaining=0) == daily.day
    assert [
        kind_of("http://h/crm/v3/objects/tickets/search"),
        kind_of("http://h/crm/v3/objects/contacts/batch/update"),
        kind_of("http://h/oauth/v2/private-apps/get/access-token-info"),
    ] == ["search", "crm", "oauth"]


def test_zendesk_reader_honours_retry_after_on_the_right_window() -> None:
    """Remaining 0: the account window closes for Retry-After; a bucket's 429 (account
    not spent) closes only that endpoint's window."""
    account = zendesk_answer("users_update_many", 429,
                             {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0",
                              "Retry-After": "7"}, b"")
    assert Observation(0, 700, None, 7.0) == account.windows["account"]
    bucket = zendesk_answer("incremental_tickets", 429,
                            {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "650",
                             "Retry-After": "20"}, b"")
    assert (Observation(0, None, None, 20.0), Observation(650, 700)) == (
        bucket.windows["incremental_tickets"], bucket.windows["account"])


def test_hubspot_pacer_from_the_plan() -> None:
    """quota_share 0.9 gives search 4 a second; burst_share 1.0 keeps all 190."""
    pacer = hubspot_pacer("hubspot")
    assert (pacer.windows["ten_second"].room(0.0), pacer.windows["search"].room(0.0)) == (190, 4)
