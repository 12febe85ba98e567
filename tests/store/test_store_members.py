"""NPS members: first_seen_at is kept, last_seen_at only grows, leavers' surveys are skipped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from closedloop.daemon.store import NewSend, SeenMember, Store
from closedloop.daemon.store.members import cadence_cursor_name

MakeSend = Callable[..., NewSend]
DAY = timedelta(days=1)


def test_a_new_member_is_first_seen_now_and_keeps_that_date(store: Store, t0: datetime) -> None:
    """A later pass updates last_seen_at, address and customer date, never first_seen_at."""
    since = t0 - timedelta(days=400)
    first = store.upsert_members("nps", "hubspot", [SeenMember("1", "Ada@Example.com ")], t0)
    again = store.upsert_members("nps", "hubspot",
                                 [SeenMember("1", "ada@new.example", since)], t0 + DAY)
    assert (first["1"].first_seen_at, first["1"].last_seen_at) == (t0, t0)
    assert (again["1"].first_seen_at, again["1"].last_seen_at) == (t0, t0 + DAY)
    assert (first["1"].email_norm, again["1"].email_norm) == ("ada@example.com", "ada@new.example")
    assert again["1"].customer_since == since


def test_members_are_per_program_and_source(store: Store, t0: datetime) -> None:
    """The same contact id in another program or source is another member row."""
    store.upsert_members("nps", "hubspot", [SeenMember("1", None)], t0)
    store.upsert_members("nps-eu", "hubspot", [SeenMember("1", None)], t0 + DAY)
    store.upsert_members("nps", "zendesk", [SeenMember("1", None)], t0 + 2 * DAY)
    firsts = [store.get_members(p, s, ["1"])["1"].first_seen_at
              for p, s in (("nps", "hubspot"), ("nps-eu", "hubspot"), ("nps", "zendesk"))]
    assert firsts == [t0, t0 + DAY, t0 + 2 * DAY]
    assert store.get_members("nps", "hubspot", ["2"]) == {}


def test_a_slower_replica_cannot_move_last_seen_back(store: Store, t0: datetime) -> None:
    """Two passes interleave: the older pass's write leaves the newer last_seen_at."""
    store.upsert_members("nps", "hubspot", [SeenMember("1", None)], t0 + DAY)
    late = store.upsert_members("nps", "hubspot", [SeenMember("1", None)], t0)
    assert late["1"].last_seen_at == t0 + DAY


def test_a_page_listing_a_contact_twice_is_one_row(store: Store, t0: datetime) -> None:
    """PostgreSQL refuses to upsert one row twice in a statement: the page is deduplicated."""
    twice = [SeenMember("1", "a@example.com"), SeenMember("1", "a@example.com")]
    rows = store.upsert_members("nps", "hubspot", twice, t0)
    assert list(rows) == ["1"]


def test_many_members_in_one_page(store: Store, t0: datetime) -> None:
    """More ids than one IN list holds (500) come back complete."""
    seen = [SeenMember(str(i), f"p{i}@example.com") for i in range(1200)]
    assert len(store.upsert_members("nps", "hubspot", seen, t0)) == 1200
    assert len(store.get_members("nps", "hubspot", [str(i) for i in range(1200)])) == 1200


def test_pending_surveys_of_members_a_pass_missed_are_skipped(
        store: Store, t0: datetime, make_send: MakeSend) -> None:
    """After a complete pass, a member it did not see left the audience: their pending survey
    is skipped "left_audience"; a stayer's, a sent one, a reminder, another program's stay."""
    store.upsert_members("nps", "hubspot", [SeenMember("stay", None), SeenMember("gone", None)],
                         t0)
    store.upsert_members("nps", "hubspot", [SeenMember("stay", None)], t0 + DAY)
    nps = {"program": "nps", "survey_type": "nps", "ticket_id": None, "due_at": t0 + 2 * DAY}
    store.add_sends([
        make_send("stay", contact_id="stay", **nps),
        make_send("gone", contact_id="gone", **nps),
        make_send("gone-reminder", contact_id="gone", kind="reminder", **nps),
        make_send("gone-other", contact_id="gone", program="nps-eu", survey_type="nps",
                  due_at=t0 + 2 * DAY),
    ])
    assert store.skip_left_members("nps", "hubspot", t0 + DAY) == 1
    counts = store.counts()
    assert (counts["sends.pending"], counts["skipped.left_audience"]) == (3, 1)
    assert store.skip_left_members("nps", "hubspot", t0 + DAY) == 0


def test_the_first_complete_pass_is_kept_once(store: Store, t0: datetime) -> None:
    """The program's start survives restarts; a later (or racing) pass does not move it."""
    assert store.cadence_started("nps", "hubspot") is None
    assert store.record_cadence_start("nps", "hubspot", t0, t0) == t0
    assert store.record_cadence_start("nps", "hubspot", t0 + DAY, t0 + DAY) == t0
    assert store.cadence_started("nps", "hubspot") == t0
    assert store.cadence_started("nps", "zendesk") is None


def test_a_long_program_name_fits_the_cursor_column(store: Store, t0: datetime) -> None:
    """Program names may be 63 characters; the cursor name stays within 64 and distinct."""
    long_a, long_b = "a" * 62 + "1", "a" * 62 + "2"
    names = {cadence_cursor_name(long_a), cadence_cursor_name(long_b)}
    assert len(names) == 2
    assert all(len(n) <= 64 for n in names)
    store.record_cadence_start(long_a, "hubspot", t0, t0)
    store.record_cadence_start(long_b, "hubspot", t0 + DAY, t0)
    assert store.cadence_started(long_b, "hubspot") == t0 + DAY
