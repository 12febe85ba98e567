"""Closed-ticket polling through the real hubspot-api-client against the sandbox."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closedloop.integration.base import TicketPage
from closedloop.integration.errors import TransientError
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.hubspot._cursor import SearchCursor
from closedloop.integration.hubspot._tickets import closed_ticket_pages
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # same instant as conftest.NOW
TOKEN = "sandbox-token"

SEARCH = "POST /crm/v3/objects/tickets/search"


def _ids(pages: list[TicketPage]) -> list[str]:
    return [t.id for p in pages for t in p.tickets]


def _close(state: HubSpotState, n: int, start: datetime, step: timedelta,
           contact: str | None = None) -> list[str]:
    return [state.create_ticket(f"t{i}", contact, closed_at=start + i * step) for i in range(n)]


def test_pages_to_the_end_in_close_order(adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """Every closed ticket since start_at comes out once, in closed_date order, 10 a page;
    open tickets and tickets closed before start_at do not."""
    contact = state.create_contact("a@example.com", "Ann", "Lee", "en")
    expected = _close(state, 25, NOW - timedelta(hours=20), timedelta(minutes=7), contact)
    state.create_ticket("still open", contact)
    state.create_ticket("too old", contact, closed_at=NOW - timedelta(days=3))

    pages = list(adapter.closed_tickets(None))

    assert [len(p.tickets) for p in pages] == [10, 10, 5]
    assert expected == _ids(pages)
    first = pages[0].tickets[0]
    assert (contact,) == first.contact_ids
    assert NOW - timedelta(hours=20) == first.closed_at
    assert first.pipeline == "0"


def test_ticket_fields_and_associations(adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """owner/team come from hubspot_owner_id/hubspot_team_id; a ticket with no contact has
    empty contact_ids; a ticket with two contacts lists both."""
    one = state.create_contact("a@example.com", "Ann", "Lee", "en")
    two = state.create_contact("b@example.com", "Bo", "Ek", "sv")
    with_two = state.create_ticket("two", one, closed_at=NOW - timedelta(hours=2),
                                   owner_id="71", team_id="41")
    state.associate(with_two, two)
    bare = state.create_ticket("bare", None, closed_at=NOW - timedelta(hours=1))

    tickets = {t.id: t for p in adapter.closed_tickets(None) for t in p.tickets}

    assert (one, two) == tickets[with_two].contact_ids
    assert (tickets[with_two].owner_id, tickets[with_two].team_id) == ("71", "41")
    assert tickets[bare].contact_ids == ()
    assert tickets[bare].closed_at.tzinfo == UTC


def test_resume_yields_only_new_tickets_and_late_ones_within_overlap(
        adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """Resuming from the last cursor yields nothing already yielded; a ticket closed later
    is found, and so is one the index showed late inside the overlap (not one older)."""
    _close(state, 12, NOW - timedelta(hours=3), timedelta(minutes=10))
    first = list(adapter.closed_tickets(None))
    cursor = first[-1].cursor
    watermark = datetime.fromtimestamp(json.loads(cursor)["wm"] / 1000, UTC)

    assert _ids(list(adapter.closed_tickets(cursor))) == []

    later = state.create_ticket("later", None, closed_at=watermark + timedelta(minutes=1))
    late = state.create_ticket("late", None, closed_at=watermark - timedelta(minutes=2))
    state.create_ticket("too late", None, closed_at=watermark - timedelta(minutes=30))
    second = list(adapter.closed_tickets(cursor))

    assert [late, later] == _ids(second)
    assert _ids(list(adapter.closed_tickets(second[-1].cursor))) == []


def test_resume_reads_only_the_overlap_again(adapter: HubSpotAdapter, state: HubSpotState,
                                             sandbox: HubSpotSandbox) -> None:
    """A resumed poll over 100 old closures costs one search call: it does not re-read the
    world, only the last `overlap` (5 minutes) before the watermark."""
    _close(state, 100, NOW - timedelta(hours=20), timedelta(minutes=10))
    cursor = list(adapter.closed_tickets(None))[-1].cursor
    sandbox.reset_calls()

    pages = list(adapter.closed_tickets(cursor))

    assert sandbox.calls[SEARCH] == 1
    assert len(pages) == 1  # the one re-read ticket, skipped: an empty page with a cursor
    assert pages[0].tickets == []


@pytest.mark.slow
def test_ten_thousand_results_cap_every_ticket_once(state: HubSpotState,
                                                     policy: RetryPolicy) -> None:
    """10,250 closures (three per second, so ties straddle the restart) come out exactly
    once each: the query restarts from the last closed_date before paging past 10,000."""
    start = NOW - timedelta(hours=20)
    expected = [state.create_ticket(f"t{i}", None, closed_at=start + timedelta(seconds=i // 3))
                for i in range(10_250)]
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, start_at=start, retry=policy)
        pages = list(adapter.closed_tickets(None))
        searches = sandbox.calls[SEARCH]

    seen = Counter(_ids(pages))
    assert set(expected) == set(seen)
    assert {1} == set(seen.values())
    assert searches > 10_250 // 200  # the restart re-read the boundary page


def test_last_page_cursor_of_a_long_backlog_resumes_cleanly(state: HubSpotState,
                                                            policy: RetryPolicy) -> None:
    """After 600 closures one second apart (200 a page), the last cursor yields nothing new."""
    start = NOW - timedelta(hours=20)
    for i in range(600):
        state.create_ticket(f"t{i}", None, closed_at=start + timedelta(seconds=i))
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, start_at=start, retry=policy,
                                 page_size=200)
        pages = list(adapter.closed_tickets(None))
        again = list(adapter.closed_tickets(pages[-1].cursor))
    assert len(_ids(pages)) == 600
    assert _ids(again) == []


def test_search_rate_limit_secondly_is_waited_out(
        state: HubSpotState, policy: RetryPolicy, sleeps: list[float]) -> None:
    """A search 429 (policy SECONDLY) is retried after the 1 s the policy names."""
    _close(state, 3, NOW - timedelta(hours=2), timedelta(minutes=1))
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url,
                                 start_at=NOW - timedelta(days=1), retry=policy)
        sandbox.fail_next(1, 429, path_prefix="/crm/v3/objects/tickets/search")
        pages = list(adapter.closed_tickets(None))
        assert sandbox.calls[SEARCH] == 2
    assert len(_ids(pages)) == 3
    assert sleeps == [1.0]


class _Page:
    """A search page as the SDK models it (only what the pager reads)."""

    def __init__(self, results: list[Any], after: str | None) -> None:
        self.results = results
        nxt = type("Next", (), {"after": after})() if after else None
        self.paging = type("Paging", (), {"next": nxt})() if nxt else None


class _Result:
    def __init__(self, tid: str, closed: str) -> None:
        self.id = tid
        self.properties = {"closed_date": closed}


def test_repeated_page_token_is_an_error_not_a_loop() -> None:
    """A server that hands out the same `after` twice stops the poll with TransientError."""
    calls: list[str | None] = []

    def search(from_ms: int, after: str | None) -> _Page:
        calls.append(after)
        return _Page([_Result(str(len(calls)), "2026-05-01T10:00:00Z")], "7")

    pages = closed_ticket_pages(search=search, contacts_of=lambda ids: {},
                                cursor=SearchCursor(0), query_from_ms=0, page_size=10,
                                overlap_ms=0)
    with pytest.raises(TransientError, match="repeated the page token"):
        list(pages)
    assert calls == [None, "7"]
