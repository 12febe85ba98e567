"""The jobs' wake gates (jobs/wakes.py) against a real store, SQLite and PostgreSQL: each
edge on both sides, another process's write (seen at max_stale, not before), a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import insert, select, update

from closedloop.daemon.jobs.wakes import STALE_RUNS, JobWakes
from closedloop.daemon.jobs.windows import CoalescingSettings
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.events import EVENTS
from closedloop.daemon.store.sends import SENDS, WRITEBACKS
from closedloop.daemon.store.webhooks import DELIVERIES

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVERY = timedelta(seconds=30)  # dispatch
MINUTE = timedelta(minutes=1)
WINDOW = timedelta(minutes=15)
SECOND = timedelta(seconds=1)


def _wakes(store: Store) -> JobWakes:
    return JobWakes(store, EVERY, MINUTE, settle=timedelta(seconds=5))


def _send(store: Store, key: str, due: datetime, n: int = 1) -> None:
    store.add_sends([NewSend(idem_key=f"{key}:{i}", program="csat", survey_type="csat",
                             source="hubspot", contact_id=str(i), due_at=due, created_at=NOW,
                             email=f"c{i}@example.com") for i in range(n)])


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """The same database through another engine: another replica or a CLI command."""
    second = Store(store.engine.url.render_as_string(hide_password=False))
    yield second
    second.dispose()


def test_dispatch_sleeps_until_due_plus_window_and_not_at_it(store: Store) -> None:
    """A pending send due at D with the sends window W: idle at D+W-1 s (no read), due at D+W."""
    wakes = _wakes(store)
    due = NOW + timedelta(minutes=2)
    _send(store, "a", due)
    assert wakes.dispatch_idle(NOW, WINDOW) is True
    assert (wakes.dispatch_idle(due + WINDOW - SECOND, WINDOW),
            wakes.dispatch_idle(due + WINDOW, WINDOW)) == (True, False)


def test_dispatch_wakes_at_a_lease_end(store: Store) -> None:
    """A row a dispatcher holds until L (it may have died): idle at L-1 s, awake at L
    (release_stale must run)."""
    wakes = _wakes(store)
    _send(store, "b", NOW + timedelta(hours=5))
    lease_end = NOW + timedelta(minutes=3)
    with store.engine.begin() as conn:
        conn.execute(update(SENDS).values(status="claimed", claimed_until=lease_end))
    assert (wakes.dispatch_idle(NOW, WINDOW), wakes.dispatch_idle(lease_end - SECOND, WINDOW),
            wakes.dispatch_idle(lease_end, WINDOW)) == (True, True, False)


def test_dispatch_wakes_at_once_on_this_process_write(store: Store) -> None:
    """Nothing pending: idle; a due send queued through this store: awake at the next run."""
    wakes = _wakes(store)
    assert wakes.dispatch_idle(NOW, timedelta(0)) is True
    _send(store, "c", NOW)
    assert wakes.dispatch_idle(NOW + SECOND, timedelta(0)) is False


def test_another_process_write_is_seen_at_max_stale_and_not_before(store: Store,
                                                                  other: Store) -> None:
    """A due send queued by another process: unseen until STALE_RUNS dispatch intervals
    after the gate's read, seen at that bound."""
    wakes = _wakes(store)
    assert wakes.dispatch_idle(NOW, timedelta(0)) is True
    _send(other, "d", NOW)
    bound = NOW + EVERY * STALE_RUNS
    assert (wakes.dispatch_idle(bound - SECOND, timedelta(0)),
            wakes.dispatch_idle(bound, timedelta(0))) == (True, False)


def test_a_restart_reads_at_once(store: Store, other: Store) -> None:
    """Gates live in memory: a new JobWakes (a restarted daemon) reads on its first run."""
    assert _wakes(store).dispatch_idle(NOW, timedelta(0)) is True
    _send(other, "e", NOW)
    assert _wakes(store).dispatch_idle(NOW + SECOND, timedelta(0)) is False


def test_a_full_batch_never_sleeps(store: Store) -> None:
    """99 pending sends not yet due: idle; 100 (a full batch, which the window never holds
    back and whose due count can reach it by time alone): awake."""
    _send(store, "f", NOW + timedelta(hours=1), n=99)
    assert _wakes(store).dispatch_idle(NOW, WINDOW) is True
    _send(store, "g", NOW + timedelta(hours=1))
    assert _wakes(store).dispatch_idle(NOW, WINDOW) is False


def test_intake_sleeps_until_the_first_notice_waited_its_window(store: Store) -> None:
    """A notice at N with the intake window W: idle at N+W-1 s, awake at N+W."""
    wakes = _wakes(store)
    window = timedelta(minutes=30)
    assert wakes.intake_idle("hubspot", NOW, window) is True
    store.queue_notified("hubspot", ["t1"], NOW)
    assert (wakes.intake_idle("hubspot", NOW + window - SECOND, window),
            wakes.intake_idle("hubspot", NOW + window, window)) == (True, False)


def test_writeback_sleeps_until_the_answer_window(store: Store) -> None:
    """An answer row created at C with the answers window A: idle at C+A-1 s, awake at C+A;
    another kind of row waits the writeback window."""
    wakes = _wakes(store)
    settings = CoalescingSettings()
    _send(store, "h", NOW)
    with store.engine.begin() as conn:
        conn.execute(insert(WRITEBACKS).values(
            source="hubspot", contact_id="0", send_id=1, kind="sent", data={},
            created_at=NOW, status="pending", attempts=0))
    edge = NOW + settings.writeback
    assert (wakes.writeback_idle("hubspot", edge - SECOND, settings),
            wakes.writeback_idle("hubspot", edge, settings)) == (True, False)
    with store.engine.begin() as conn:
        conn.execute(insert(WRITEBACKS).values(
            source="hubspot", contact_id="0", send_id=1, kind="answer", data={},
            created_at=NOW, status="pending", attempts=0))
    assert (wakes.writeback_idle("hubspot", NOW + settings.answers - SECOND, settings),
            wakes.writeback_idle("hubspot", NOW + settings.answers, settings)) == (True, False)


def test_poll_sleeps_until_its_pace(store: Store) -> None:
    """The paced poll: not due before the stored next time, due at it; none stored: due."""
    wakes = _wakes(store)
    next_at = NOW + timedelta(minutes=8)
    assert wakes.poll_idle("hubspot", NOW, lambda: None) is False
    assert (wakes.poll_idle("hubspot", NOW, lambda: next_at),
            wakes.poll_idle("hubspot", next_at - SECOND, lambda: next_at),
            wakes.poll_idle("hubspot", next_at, lambda: next_at)) == (True, True, False)


def test_webhooks_wake_to_route_then_at_the_retention_end(store: Store) -> None:
    """An unrouted event: awake. Once routed (no endpoints): idle until the oldest event's
    retention ends (its prune), awake at that instant."""
    wakes = _wakes(store)
    retention = timedelta(days=30)
    with store.engine.begin() as conn:
        conn.execute(insert(EVENTS).values(kind="survey.sent", payload={}, created_at=NOW))
    assert wakes.webhooks_idle(NOW, retention, deliveries=False) is False
    with store.engine.begin() as conn:
        conn.execute(update(EVENTS).values(routed_at=NOW))
    edge = NOW + retention
    assert (wakes.webhooks_idle(edge - SECOND, retention, deliveries=False),
            wakes.webhooks_idle(edge, retention, deliveries=False)) == (True, False)


def test_webhooks_wake_at_a_delivery_next_attempt(store: Store) -> None:
    """With endpoints: a pending delivery retried at R: idle at R-1 s, awake at R."""
    wakes = _wakes(store)
    retry = NOW + timedelta(minutes=4)
    with store.engine.begin() as conn:
        conn.execute(insert(EVENTS).values(id=1, kind="survey.sent", payload={},
                                           created_at=NOW, routed_at=NOW))
        conn.execute(insert(DELIVERIES).values(
            event_id=1, endpoint="crm", status="pending", attempts=1,
            next_attempt_at=retry, created_at=NOW))
    assert (wakes.webhooks_idle(NOW, timedelta(days=30), deliveries=True),
            wakes.webhooks_idle(retry - SECOND, timedelta(days=30), deliveries=True),
            wakes.webhooks_idle(retry, timedelta(days=30), deliveries=True)) == \
        (True, True, False)


def test_reports_and_themes_gates_ignore_a_cursors_write_alone(store: Store) -> None:
    """The reports' and themes' gates, once their check found nothing: a write to `cursors`
    alone (the poll's pace, another job's state: every few minutes) keeps them shut, no
    check; an answer recorded (a table both count from) opens them at the next run."""
    wakes = _wakes(store)
    for gate in (wakes.reports, wakes.themes):
        checks: list[datetime] = []

        def check(at: datetime, checks: list[datetime] = checks) -> bool:
            checks.append(at)
            return True

        for at in (NOW, NOW + 10 * SECOND, NOW + 20 * SECOND):  # themes settle 5 s
            wakes.quiet(gate, at, partial(check, at))
        shut_from = checks[-1]
        store.set_cursor("hubspot", "pace", '{"interval": 60}', NOW)
        wakes.quiet(gate, NOW + 30 * SECOND, partial(check, NOW + 30 * SECOND))
        assert checks[-1] == shut_from
        key = f"cursor-{len(gate.tables)}"
        _send(store, key, NOW)
        with store.engine.connect() as conn:
            send_id = conn.scalar(select(SENDS.c.id).where(SENDS.c.idem_key == f"{key}:0"))
        store.record_response(send_id, 5, "satisfied", NOW)
        wakes.quiet(gate, NOW + 40 * SECOND, partial(check, NOW + 40 * SECOND))
        assert checks[-1] == NOW + 40 * SECOND
