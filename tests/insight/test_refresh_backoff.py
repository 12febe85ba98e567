"""The every-minute themes and reports jobs back off when nothing changed: a read-only
check (`rollups.settled`, themes' `idle`) says whether a refresh now would move anything;
both sides: nothing new -> no refresh work; one new answer -> counted on the next run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from insight.report_support import T0, Seeder, nps_runtime
from sqlalchemy import func, select
from themes_support import answer

from closedloop.daemon.insight import rollups
from closedloop.daemon.insight.rollups import SENT_OVERLAP, read_state
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import ThemeMatcher, default_themes, refresh_themes
from closedloop.daemon.insight.themes.assign import CURSOR_LAG, idle
from closedloop.daemon.store import Store
from closedloop.daemon.store.reports import STATE
from closedloop.daemon.store.sends import CURSORS

SETTINGS = ReportingSettings()
MATCHER = ThemeMatcher(default_themes())
US = timedelta(microseconds=1)


def _state(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return read_state(conn)


def test_reports_settle_quickly_a_margin_after_the_last_mark(store: Store) -> None:
    """Never refreshed: not settled. Refreshed while the newest send is within SENT_OVERLAP
    of the refresh (mark == refreshed_at - margin): settled only after reading the margin's
    facts (`verified` notes when); a microsecond past that edge: settled on the marks alone."""
    Seeder(store).survey(sent_at=T0, score=9, answered_at=T0)
    now = T0 + timedelta(days=1)
    assert rollups.settled(store, SETTINGS, now) is False
    rollups.refresh(store, SETTINGS, T0 + SENT_OVERLAP)
    checked = rollups.Verified()
    assert rollups.settled(store, SETTINGS, now, checked) is True
    assert checked.at == now
    rollups.refresh(store, SETTINGS, T0 + SENT_OVERLAP + US)
    quick = rollups.Verified()
    assert rollups.settled(store, SETTINGS, now, quick) is True
    assert quick.at is None


def test_a_new_answer_unsettles_and_the_next_refresh_counts_it(store: Store) -> None:
    """One answer recorded after a settled refresh: not settled, and the next refresh
    moves the rollups; after it, settled again."""
    seeder = Seeder(store)
    seeder.survey(sent_at=T0, score=9, answered_at=T0)
    quiet = seeder.survey(sent_at=T0)
    later = T0 + timedelta(hours=2)
    rollups.refresh(store, SETTINGS, later)
    assert rollups.settled(store, SETTINGS, later) is True
    seeder.answer(quiet, 3, later)
    assert rollups.settled(store, SETTINGS, later) is False
    assert rollups.refresh(store, SETTINGS, later + timedelta(minutes=1)) > 0
    assert _state(store)["answers"] == later.isoformat()
    assert rollups.settled(store, SETTINGS, later + timedelta(minutes=1)) is True


def test_a_late_commit_behind_the_mark_is_still_counted(store: Store) -> None:
    """A re-score stamped before the newest answer (a transaction that committed late)
    moves no mark; within the margin its changed fact unsettles the rollups and the next
    refresh counts it."""
    seeder = Seeder(store)
    late = seeder.survey(sent_at=T0, score=9, answered_at=T0 + timedelta(minutes=1))
    seeder.survey(sent_at=T0, score=8, answered_at=T0 + timedelta(minutes=3))
    now = T0 + timedelta(minutes=4)
    rollups.refresh(store, SETTINGS, now)
    assert rollups.settled(store, SETTINGS, now) is True
    seeder.answer(late, 2, T0 + timedelta(minutes=2))
    assert _state(store)["answers"] == (T0 + timedelta(minutes=3)).isoformat()
    assert rollups.settled(store, SETTINGS, now) is False
    assert rollups.refresh(store, SETTINGS, now + timedelta(minutes=1)) > 0
    assert rollups.settled(store, SETTINGS, now + timedelta(minutes=1)) is True


def test_the_reports_job_skips_the_refresh_when_settled(tmp_path: Path) -> None:
    """The daemon's job: with nothing new it does not refresh (the state's refreshed_at
    stays that of the last real run); after one new answer it does."""
    clock = [T0 + timedelta(hours=2)]
    rt = nps_runtime(tmp_path, lambda: clock[0])
    rt.store.migrate()
    try:
        seeder = Seeder(rt.store)
        seeder.survey(sent_at=T0, score=9, answered_at=T0)
        quiet = seeder.survey(sent_at=T0)
        assert rt.refresh_reports() > 0
        first = _state(rt.store)["refreshed_at"]
        clock[0] += timedelta(minutes=1)
        assert rt.refresh_reports() == 0
        assert _state(rt.store)["refreshed_at"] == first
        seeder.answer(quiet, 3, clock[0])
        clock[0] += timedelta(minutes=1)
        assert rt.refresh_reports() > 0
        assert _state(rt.store)["refreshed_at"] == clock[0].isoformat()
    finally:
        rt.close()


def test_themes_idle_until_a_comment_passes_the_lag(store: Store) -> None:
    """Nothing changed since the cursor: idle. A new commented answer: not idle from the
    lag on (idle a microsecond before it, as refresh_themes would take nothing then), and
    the refresh assigns it; afterwards idle again."""
    answer(store, "a", 2, "unsatisfied", "The delivery was late", T0)
    later = T0 + timedelta(hours=1)
    assert idle(store, MATCHER, later) is False  # never run: the first run assigns it
    assert refresh_themes(store, MATCHER, later).responses == 1
    assert idle(store, MATCHER, later) is True
    answer(store, "b", 1, "unsatisfied", "Refund please", later)
    assert idle(store, MATCHER, later + CURSOR_LAG - US) is True
    assert idle(store, MATCHER, later + CURSOR_LAG) is False
    assert refresh_themes(store, MATCHER, later + CURSOR_LAG).responses == 1
    assert idle(store, MATCHER, later + CURSOR_LAG) is True


def test_themes_not_idle_when_the_dictionary_or_rollups_changed(store: Store) -> None:
    """Another dictionary (every answer assigned again) or stale theme rollups (rebuilt
    by the next run with reporting settings) is work: not idle."""
    answer(store, "a", 2, "unsatisfied", "The delivery was late", T0)
    later = T0 + timedelta(hours=1)
    refresh_themes(store, MATCHER, later, reporting=SETTINGS)
    assert idle(store, MATCHER, later, reporting=SETTINGS) is True
    other = ThemeMatcher(default_themes()[:2])
    assert idle(store, other, later, reporting=SETTINGS) is False
    answer(store, "b", 1, "unsatisfied", "Refund please", later)
    after = later + CURSOR_LAG
    refresh_themes(store, MATCHER, after)  # without reporting: the rollups go stale
    later = after
    assert idle(store, MATCHER, later, reporting=SETTINGS) is False
    assert idle(store, MATCHER, later) is True


def test_a_refresh_leaves_the_newest_marks_and_its_time_in_the_state(store: Store) -> None:
    """The report state a refresh writes (all rows in one upsert, the three marks read in
    one statement): no answer or attribution yet, those marks are empty; after them, each
    mark is its newest time; a later refresh overwrites every row in place."""
    seeder = Seeder(store)
    send_id = seeder.survey(sent_at=T0)
    first = T0 + timedelta(hours=2)
    rollups.refresh(store, SETTINGS, first)
    state = _state(store)
    assert {k: state[k] for k in ("answers", "attributed", "sent", "max_day",
                                  "refreshed_at")} == {
        "answers": "", "attributed": "", "sent": T0.isoformat(),
        "max_day": T0.date().isoformat(), "refreshed_at": first.isoformat()}
    answered, attributed = T0 + timedelta(hours=3), T0 + timedelta(hours=4)
    seeder.answer(send_id, 9, answered)
    store.record_attribution({send_id: ("o7", "t1")}, attributed)
    later = T0 + timedelta(hours=5)
    rollups.refresh(store, SETTINGS, later)
    state = _state(store)
    assert {k: state[k] for k in ("answers", "attributed", "sent", "refreshed_at")} == {
        "answers": answered.isoformat(), "attributed": attributed.isoformat(),
        "sent": T0.isoformat(), "refreshed_at": later.isoformat()}
    with store.engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(CURSORS).where(
            CURSORS.c.source == STATE))
    assert rows == len(state)
