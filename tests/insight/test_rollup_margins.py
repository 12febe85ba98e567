"""The rollups' scheduled refresh within its margins: a survey committed after the cursor
moved but stamped before it is counted while its stamp is within the margin (and not past
it: the margins' premise), a counted survey whose columns change without a new stamp is
counted again, and a steady run reads only the surveys whose columns changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from insight.report_support import Seeder
from sqlalchemy import select, update

from closedloop.daemon.insight import rollups
from closedloop.daemon.insight.dimensions import SENDS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.reports import ROLLUPS

UTC_REPORTS = ReportingSettings(timezone="UTC")
NOW = datetime(2026, 11, 4, 12, tzinfo=UTC)  # a Wednesday: every survey below is in its week


def week(store: Store, column: str, segment: str = "", value: str = "") -> int:
    """One count of the week's row of program nps (0 when there is no row)."""
    with store.engine.connect() as conn:
        found = conn.scalar(select(ROLLUPS.c[column]).where(
            ROLLUPS.c.grain == "week", ROLLUPS.c.segment == segment, ROLLUPS.c.value == value,
            ROLLUPS.c.program == "nps"))
    return int(found or 0)


def thorough(store: Store, now: datetime = NOW) -> int:
    return rollups.refresh(store, UTC_REPORTS, now, thorough=True)


def test_a_send_committed_late_is_counted_within_its_margin_only(
        store: Store, seed: Seeder) -> None:
    """The cursor is at NOW; then two surveys commit with earlier sent_at: the one stamped
    exactly SENT_OVERLAP behind the cursor is counted, the one a second further is not."""
    seed.survey(sent_at=NOW)
    thorough(store)
    assert week(store, "sent") == 1
    seed.survey(sent_at=NOW - rollups.SENT_OVERLAP)
    seed.survey(sent_at=NOW - rollups.SENT_OVERLAP - timedelta(seconds=1))
    thorough(store)
    assert week(store, "sent") == 2


def test_an_answer_committed_late_is_counted_within_its_margin_only(
        store: Store, seed: Seeder) -> None:
    """The answers' cursor is at NOW; an answer stamped OVERLAP behind it is counted, one
    stamped a second further is not."""
    inside = seed.survey(sent_at=NOW - timedelta(days=1))
    outside = seed.survey(sent_at=NOW - timedelta(days=1))
    seed.survey(sent_at=NOW, score=9, answered_at=NOW)  # both cursors at NOW
    thorough(store)
    assert (week(store, "sent"), week(store, "n")) == (3, 1)
    seed.answer(inside, 3, NOW - rollups.OVERLAP)
    seed.answer(outside, 4, NOW - rollups.OVERLAP - timedelta(seconds=1))
    thorough(store)
    assert (week(store, "n"), week(store, "s3"), week(store, "s4")) == (2, 1, 0)


def test_a_counted_survey_changed_without_a_new_stamp_is_counted_again(
        store: Store, seed: Seeder) -> None:
    """A survey sent within the margin, counted under team a, then moved to team b by a
    write that stamps nothing: the quiet check says something would move, and the
    scheduled refresh moves its count from a to b; moved back, back to a."""
    send_id = seed.survey(sent_at=NOW - timedelta(minutes=30), team_id="a")
    thorough(store)
    assert (week(store, "sent", "team", "a"), week(store, "sent", "team", "b")) == (1, 0)
    assert rollups.settled(store, UTC_REPORTS, NOW) is True
    for team, counts in (("b", (0, 1)), ("a", (1, 0))):
        with store.engine.begin() as conn:
            conn.execute(update(SENDS).where(SENDS.c.id == send_id).values(team_id=team))
        assert rollups.settled(store, UTC_REPORTS, NOW) is False
        assert thorough(store) > 0
        assert (week(store, "sent", "team", "a"), week(store, "sent", "team", "b")) == counts
        assert rollups.settled(store, UTC_REPORTS, NOW) is True


def test_an_outcome_settled_a_lease_after_its_send_is_counted(
        store: Store, seed: Seeder) -> None:
    """A mail handed over 40 minutes before the cursor (awaiting_reply: not counted yet)
    becomes outcome_unknown later without a new sent_at: the next refresh counts it."""
    seed.survey(sent_at=NOW)
    pending = seed.survey(sent_at=None)
    with store.engine.begin() as conn:
        conn.execute(update(SENDS).where(SENDS.c.id == pending).values(
            status="awaiting_reply", sent_at=NOW - timedelta(minutes=40)))
    thorough(store)
    assert week(store, "sent") == 1
    assert thorough(store) == 0
    with store.engine.begin() as conn:
        conn.execute(update(SENDS).where(SENDS.c.id == pending).values(
            status="outcome_unknown"))
    thorough(store)
    assert week(store, "sent") == 2


def test_a_steady_refresh_reads_only_the_surveys_that_changed(
        store: Store, seed: Seeder) -> None:
    """After a refresh the margins' surveys are read again only when their columns
    differ from those their counted facts were computed from: none when nothing changed
    (nor after a refresh that followed a rebuild), the one new survey after it arrives,
    the one answered after its answer."""
    first = seed.survey(sent_at=NOW - timedelta(minutes=20))
    seed.survey(sent_at=NOW - timedelta(minutes=10))
    thorough(store)  # a rebuild: the facts' columns are not known yet
    assert window(store) == {first, first + 1}
    thorough(store)
    assert window(store) == set()
    added = seed.survey(sent_at=NOW)
    assert window(store) == {added}
    thorough(store)
    seed.answer(first, 8, NOW)
    assert window(store) == {first}
    thorough(store)
    assert window(store) == set()
    assert (week(store, "sent"), week(store, "n"), week(store, "s8")) == (3, 1, 1)


def window(store: Store) -> set[int]:
    """The surveys a thorough refresh now would read again (its margins' read)."""
    with store.engine.connect() as conn:
        return set(rollups._window(conn, UTC_REPORTS, rollups.read_state(conn)).new)
