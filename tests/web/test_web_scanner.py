"""A scanner's burst of score links records nothing; a person's click records (real HTTP,
a hand-driven monotonic clock for the burst window). The browser tests are in
test_web_browser.py."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from web_support import AddSend, ServeWith, heading

from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.web.scanner import BURST_WINDOW, OpenTracker, SharedOpenTracker
from closedloop.daemon.web.tokens import TokenSigner

WINDOW = BURST_WINDOW.total_seconds()
SCRIPTED = {"via": "script"}  # what the landing page's script posts
TAPPED = {"via": "button"}  # what the confirm button posts


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ResponseRow)) or 0)


def score_of(store: Store, send_id: int) -> int | None:
    response = store.get_response(send_id)
    return None if response is None else response.score


def auto_posts(page: httpx.Response) -> bool:
    return re.search(r"<script nonce=[^>]*>.*form\.submit\(\)", page.text, re.S) is not None


# -- the tracker alone -----------------------------------------------------------------------


def test_another_score_opened_within_the_window_is_a_burst_and_just_after_is_not() -> None:
    """The window's edge, both sides: another score's link opened exactly `window` ago is a
    burst; a millisecond older is not. The same score opened again is never a burst."""
    clock = Clock()
    opens = OpenTracker(timedelta(seconds=30), clock=clock)
    opens.opened(1, 3)
    clock.now += 30
    assert (opens.is_burst(1, 9), opens.is_burst(1, 3)) == (True, False)
    clock.now += 0.001
    assert (opens.is_burst(1, 9), opens.is_burst(1, 3)) == (False, False)


def test_a_link_fetched_again_and_again_counts_by_its_latest_opening() -> None:
    """Score 9 opened once, score 3 then fetched every second for 40 s: 3 asks "burst?"
    no (9 is 40 s old), 9 asks yes (3 was opened just now); 9 reopened makes 3 a burst."""
    clock = Clock()
    opens = OpenTracker(timedelta(seconds=30), clock=clock)
    opens.opened(1, 9)
    for _ in range(41):
        opens.opened(1, 3)
        clock.now += 1
    clock.now -= 1
    assert (opens.is_burst(1, 3), opens.is_burst(1, 9)) == (False, True)
    assert opens.opened_in_burst(1, 9) is True
    assert opens.is_burst(1, 3) is True


def test_surveys_are_apart_and_memory_is_bounded() -> None:
    """Links of one survey say nothing about another; past `max_surveys` the least recently
    opened survey is forgotten."""
    opens = OpenTracker(max_surveys=2, clock=Clock())
    opens.opened(1, 0)
    opens.opened(1, 1)
    opens.opened(2, 5)
    assert (opens.is_burst(1, 0), opens.is_burst(2, 5)) == (True, False)
    opens.opened(3, 0)
    assert (opens.is_burst(1, 0), opens.is_burst(2, 9)) == (False, True)


# -- over HTTP -------------------------------------------------------------------------------


def test_a_person_opening_one_link_records_from_the_script(
    serve_with: ServeWith, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """One link opened, then the page's scripted POST: recorded, on to the comment page."""
    send_id = add_send()
    token = signer.make(send_id)
    with serve_with(opens=OpenTracker(clock=Clock())) as client:
        assert auto_posts(client.get(f"/r/{token}/9"))
        posted = client.post(f"/r/{token}/9", data=SCRIPTED)
    assert (posted.status_code, score_of(store, send_id), rows(store)) == (303, 9, 1)


def test_a_burst_of_every_link_records_nothing_and_asks_for_a_tap(
    serve_with: ServeWith, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A scanner opens all eleven links and its browser runs each page's script: every
    scripted POST records nothing and shows the confirm button (no script); later pages of
    the burst do not even post. The button's own POST still records."""
    send_id = add_send()
    token = signer.make(send_id)
    with serve_with(opens=OpenTracker(clock=Clock())) as client:
        pages = [client.get(f"/r/{token}/{score}") for score in range(11)]
        assert [auto_posts(page) for page in pages] == [True] + [False] * 10
        for score in range(11):
            refused = client.post(f"/r/{token}/{score}", data=SCRIPTED)
            shown = (refused.status_code, heading(refused), auto_posts(refused))
            assert shown == (200, "Confirm your answer", False)
            assert "Use the button to save your score." in refused.text
            assert f"Confirm my score: {score}</button>" in refused.text
        assert rows(store) == 0
        tapped = client.post(f"/r/{token}/7", data=TAPPED)
    assert (tapped.status_code, score_of(store, send_id), rows(store)) == (303, 7, 1)


def test_a_click_after_the_window_records_and_other_surveys_are_not_held_up(
    serve_with: ServeWith, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """The scanner's burst at delivery holds nothing up once the window has passed, nor
    during it for another survey."""
    clock = Clock()
    scanned, other = add_send(), add_send()
    token = signer.make(scanned)
    with serve_with(opens=OpenTracker(clock=clock)) as client:
        for score in range(11):
            client.get(f"/r/{token}/{score}")
        other_token = signer.make(other)
        assert auto_posts(client.get(f"/r/{other_token}/4"))
        assert client.post(f"/r/{other_token}/4", data=SCRIPTED).status_code == 303
        clock.now += WINDOW + 0.001
        assert auto_posts(client.get(f"/r/{token}/8"))
        assert client.post(f"/r/{token}/8", data=SCRIPTED).status_code == 303
    assert (score_of(store, scanned), score_of(store, other), rows(store)) == (8, 4, 2)


def test_a_person_changing_the_score_later_records_both(
    serve_with: ServeWith, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A second click on another score, once the window has passed, changes the answer in
    one step; within the window it asks for a tap (the tap records)."""
    clock = Clock()
    send_id = add_send()
    token = signer.make(send_id)
    with serve_with(opens=OpenTracker(clock=clock)) as client:
        client.get(f"/r/{token}/9")
        client.post(f"/r/{token}/9", data=SCRIPTED)
        clock.now += 5
        client.get(f"/r/{token}/3")
        assert client.post(f"/r/{token}/3", data=SCRIPTED).status_code == 200
        assert score_of(store, send_id) == 9
        assert client.post(f"/r/{token}/3", data=TAPPED).status_code == 303
        assert score_of(store, send_id) == 3
        clock.now += WINDOW + 0.001
        client.get(f"/r/{token}/6")
        assert client.post(f"/r/{token}/6", data=SCRIPTED).status_code == 303
    assert (score_of(store, send_id), rows(store)) == (6, 1)


def test_post_without_a_form_still_records(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """The comment page's score buttons post no `via`: a tap, recorded as before, even right
    after other links of the survey were opened."""
    send_id = add_send()
    token = signer.make(send_id)
    client.get(f"/r/{token}/1")
    client.get(f"/r/{token}/2")
    assert client.post(f"/r/{token}/2").status_code == 303
    assert score_of(store, send_id) == 2


def test_a_burst_spread_over_two_web_processes_is_caught_through_the_store(
    serve_with: ServeWith, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Two replicas' web processes on one database: a scanner fetches score 0 from one and
    score 1 from the other, then its browser's script posts score 0 to the first. With the
    store's shared memory nothing is recorded; each process's own memory would have missed
    it (the first process saw one link only), as the second half shows."""
    token = signer.make(add_send())
    with serve_with(opens=SharedOpenTracker(store)) as a, \
            serve_with(opens=SharedOpenTracker(store)) as b:
        a.get(f"/r/{token}/0")
        b.get(f"/r/{token}/1")
        refused = a.post(f"/r/{token}/0", data=SCRIPTED)
    assert (refused.status_code, auto_posts(refused), rows(store)) == (200, False, 0)
    other = signer.make(add_send())
    with serve_with(opens=OpenTracker()) as a, serve_with(opens=OpenTracker()) as b:
        a.get(f"/r/{other}/0")
        b.get(f"/r/{other}/1")
        missed = a.post(f"/r/{other}/0", data=SCRIPTED)
    assert (missed.status_code, rows(store)) == (303, 1)
