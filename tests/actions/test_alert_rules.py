"""Alert rules against a real store (SQLite and PostgreSQL) under time-machine: per-answer
matching, rolling breaches that fire once and recover, the minimum sample, window ends and
the flood digest, each on both sides of its edge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from alert_support import SENDS, T0, answer, rule, survey
from sqlalchemy import select

from closedloop.daemon.actions.alerts.job import evaluate_alerts
from closedloop.daemon.store import NewSend, Store


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def now() -> datetime:
    return datetime.now(UTC)


def kinds(store: Store) -> list[tuple[str, str]]:
    return [(r["kind"], r["status"]) for r in store.alert_rows()]


def test_answer_rule_fires_once_per_answer(store: Store, clock: Any) -> None:
    """A detractor-style answer queues one alert; its later comment and a second run do not
    queue another; a satisfied answer queues nothing."""
    rules = (rule(categories=["unsatisfied"]),)
    sent = answer(store, now(), 2)
    answer(store, now(), 5)
    assert evaluate_alerts(store, rules, now()).queued == 1
    clock.shift(timedelta(minutes=1))
    store.record_comment(sent, "slow refund", now())
    result = evaluate_alerts(store, rules, now())
    assert (result.answers, result.queued) == (1, 0)  # the cursor read only the comment
    rows = store.alert_rows()
    assert [(r["kind"], r["send_id"], r["payload"]["answer"]["score"]) for r in rows] == [
        ("answer", sent, 2)]


def test_comment_words_and_regex(store: Store, clock: Any) -> None:
    """Words match whole words in any case; the regex matches anywhere; no comment, no match."""
    rules = (rule(name="words", comment_words=["refund"]),
             rule(name="regex", comment_regex=r"cancel(l?ed)?\b"))
    answer(store, now(), 3, comment="Where is my REFUND?")
    answer(store, now(), 3, comment="refunded already, thanks")
    answer(store, now(), 3, comment="I cancelled it")
    answer(store, now(), 3)
    evaluate_alerts(store, rules, now())
    got = sorted((r["rule"], r["payload"]["answer"]["comment"]) for r in store.alert_rows())
    assert got == [("regex", "I cancelled it"), ("words", "Where is my REFUND?")]


def test_score_range_program_and_segment_filters(store: Store, clock: Any) -> None:
    """score_min/score_max are inclusive; programs and segment filters narrow the answers."""
    rules = (rule(score_min=2, score_max=3, programs=["support-csat"],
                  segment={"team": ["t1"]}),)
    for score in (1, 2, 3, 4):
        answer(store, now(), score)
    answer(store, now(), 2, team="t2")
    answer(store, now(), 2, program="other")
    evaluate_alerts(store, rules, now())
    assert sorted(r["payload"]["answer"]["score"] for r in store.alert_rows()) == [2, 3]


def test_csat_share_breach_no_refire_recovery(store: Store, clock: Any) -> None:
    """Last 4 answers, below 75 %: exactly 75 % does not fire; 50 % fires once; a second run
    does not re-fire; back to 100 % sends one recovery."""
    rules = (rule(kind="csat_share", threshold=75, last=4, min_sample=4),)
    for score in (5, 5, 5, 1):
        clock.shift(timedelta(minutes=1))
        answer(store, now(), score)
    evaluate_alerts(store, rules, now())
    assert kinds(store) == []  # 75 % is not below 75 %
    clock.shift(timedelta(minutes=1))
    answer(store, now(), 1)  # last 4: 5 5 1 1 = 50 %
    evaluate_alerts(store, rules, now())
    evaluate_alerts(store, rules, now())
    assert kinds(store) == [("breach", "pending")]
    assert store.alert_rows()[0]["payload"]["value"] == 50.0
    for _ in range(4):
        clock.shift(timedelta(minutes=1))
        answer(store, now(), 5)
    evaluate_alerts(store, rules, now())
    assert kinds(store) == [("breach", "pending"), ("recovery", "pending")]


def test_minimum_sample_n_minus_one_vs_n(store: Store, clock: Any) -> None:
    """With min_sample 4, three bad answers say nothing; the fourth fires."""
    rules = (rule(kind="csat_share", threshold=75, last=10, min_sample=4),)
    for _ in range(3):
        answer(store, now(), 1)
    evaluate_alerts(store, rules, now())
    assert kinds(store) == []
    answer(store, now(), 1)
    evaluate_alerts(store, rules, now())
    assert kinds(store) == [("breach", "pending")]


def test_window_end_is_inclusive_of_its_start(store: Store, clock: Any) -> None:
    """An answer exactly one window old still counts; one second older it does not."""
    answer(store, T0, 1)
    edge = (rule(name="edge", kind="csat_share", threshold=50, window="1d", min_sample=1),)
    past = (rule(name="past", kind="csat_share", threshold=50, window="1d", min_sample=1),)
    evaluate_alerts(store, edge, T0 + timedelta(days=1))
    evaluate_alerts(store, past, T0 + timedelta(days=1, seconds=1))
    assert [r["rule"] for r in store.alert_rows()] == ["edge"]


def test_segments_breach_independently(store: Store, clock: Any) -> None:
    """segment_by team: one figure per team; only the failing team's alert is queued."""
    rules = (rule(kind="csat_share", threshold=75, window="7d", min_sample=2,
                  segment_by="team"),)
    for score in (1, 2):
        answer(store, now(), score, team="t1")
    for score in (5, 4):
        answer(store, now(), score, team="t2")
    evaluate_alerts(store, rules, now())
    assert [(r["kind"], r["segment"]) for r in store.alert_rows()] == [("breach", "t1")]


def test_nps_drop_against_previous_period(store: Store, clock: Any) -> None:
    """NPS 10 last week, 0 this week: a drop of exactly 10 fires a threshold of 10, not 10.5."""
    week = timedelta(days=7)
    for score in (10, *[8] * 9):  # NPS 10
        answer(store, T0 - week - timedelta(days=1), score, survey_type="nps")
    for _ in range(10):  # NPS 0
        answer(store, T0 - timedelta(days=1), 8, survey_type="nps")
    rules = (rule(name="ten", kind="nps_drop", threshold=10, window="7d", min_sample=10),
             rule(name="more", kind="nps_drop", threshold=10.5, window="7d", min_sample=10))
    evaluate_alerts(store, rules, now())
    rows = store.alert_rows()
    assert [(r["rule"], r["payload"]["value"], r["payload"]["previous"]) for r in rows] == [
        ("ten", 0.0, 10.0)]


def test_response_rate_counts_surveys_not_reminders(store: Store, clock: Any) -> None:
    """4 sent, 2 answered = 50 %: not below 50; a reminder changes nothing; a 5th unanswered
    survey (40 %) fires."""
    rules = (rule(kind="response_rate", threshold=50, window="7d", min_sample=4),)
    answer(store, now(), 5)
    first = answer(store, now(), 4)
    survey(store, now())
    survey(store, now())
    store.add_sends([NewSend(idem_key="rem", program="support-csat", survey_type="csat",
                             source="hubspot", contact_id="c", due_at=now(),
                             created_at=now(), kind="reminder", parent_id=first,
                             reminder_no=1)])
    store.mark_sent(_id(store, "rem"), now(), "<r>")
    evaluate_alerts(store, rules, now())
    assert kinds(store) == []
    survey(store, now())
    evaluate_alerts(store, rules, now())
    assert [(r["kind"], r["payload"]["value"]) for r in store.alert_rows()] == [
        ("breach", 40.0)]


def _id(store: Store, key: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(SENDS.c.id).where(SENDS.c.idem_key == key)) or 0)


def test_no_answers_for_days(store: Store, clock: Any) -> None:
    """Surveys went out for 3 days and nobody answered: fires; an answer recovers it."""
    rules = (rule(kind="no_answers", window="3d", min_sample=2),)
    survey(store, now() - timedelta(days=2))
    survey(store, now() - timedelta(days=1))
    evaluate_alerts(store, rules, now())
    assert kinds(store) == [("breach", "pending")]
    answer(store, now(), 5)
    evaluate_alerts(store, rules, now())
    assert kinds(store) == [("breach", "pending"), ("recovery", "pending")]


def test_flood_becomes_one_digest_at_window_end(store: Store, clock: Any) -> None:
    """flood_max 2: exactly 2 alerts go alone; the 3rd to 5th are held, and become one digest
    when the oldest held one is flood_window old (not one second before)."""
    rules = (rule(categories=["unsatisfied"], flood_max=2, flood_window="10m"),)
    for _ in range(5):
        answer(store, now(), 1, comment="slow")
    result = evaluate_alerts(store, rules, now())
    assert (result.queued, result.held, result.digests) == (5, 3, 0)
    assert evaluate_alerts(store, rules, T0 + timedelta(minutes=10, seconds=-1)).digests == 0
    assert evaluate_alerts(store, rules, T0 + timedelta(minutes=10)).digests == 1
    rows = store.alert_rows()
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("answer", "pending")] * 2 + [("answer", "digested")] * 3 + [("digest", "pending")]
    digest = rows[-1]["payload"]
    assert (digest["count"], "slow" in str(digest)) == (3, False)  # quotes nobody


def test_cursor_lag_leaves_young_answers_for_the_next_run(store: Store, clock: Any) -> None:
    """With a 5 s lag an answer 4 s old waits; at 5 s it is read (once)."""
    rules = (rule(categories=["unsatisfied"]),)
    answer(store, T0, 1)
    lag = timedelta(seconds=5)
    assert evaluate_alerts(store, rules, T0 + timedelta(seconds=4), lag=lag).answers == 0
    assert evaluate_alerts(store, rules, T0 + lag, lag=lag).queued == 1
    assert evaluate_alerts(store, rules, T0 + 2 * lag, lag=lag).answers == 0


def test_last_n_figure_is_recomputed_only_after_new_answers(store: Store, clock: Any) -> None:
    """A last-N rule whose state was reset fires again only once a new answer arrives (its
    figure cannot change otherwise); a window rule is recomputed every run."""
    last = (rule(name="last", kind="csat_share", threshold=75, last=2, min_sample=2),)
    for _ in range(2):
        answer(store, now(), 1)
    assert evaluate_alerts(store, last, now()).queued == 1
    store.set_alert_state("last", "all", False, None, now())
    clock.shift(timedelta(minutes=1))
    assert evaluate_alerts(store, last, now()).queued == 0
    answer(store, now(), 1)
    assert evaluate_alerts(store, last, now()).queued == 1


def test_segment_by_language_and_brand_alias(store: Store, clock: Any) -> None:
    """`brand` reads the pipeline column (Zendesk's word for it); a segment filter by brand
    keeps only that brand's answers."""
    rules = (rule(segment={"brand": ["b2"]}, categories=["unsatisfied"]),)
    answer(store, now(), 1, pipeline="b1")
    answer(store, now(), 1, pipeline="b2")
    evaluate_alerts(store, rules, now())
    assert [r["payload"]["answer"]["pipeline"] for r in store.alert_rows()] == ["b2"]
