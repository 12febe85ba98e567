"""Claims for replicas in the store: write-back leases per contact and job locks.

Run on SQLite and PostgreSQL; `replica` is a second Store (another daemon's pool).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from closedloop.daemon.store import Store
from closedloop.daemon.store.answers import HOOK_SETTLE

MakeSend = Callable[..., Any]  # the store conftest's make_send fixture
LEASE = timedelta(minutes=5)
US = timedelta(microseconds=1)


def _answered(store: Store, make_send: MakeSend, t0: datetime, key: str,
              contact: str) -> int:
    store.add_sends([make_send(key, contact_id=contact, ticket_id=None)])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    store.begin_sending(send.id, t0)
    store.mark_sent(send.id, t0, f"<{key}@x>")
    store.record_response(send.id, 3, "neutral", t0)
    return send.id


def test_a_contact_under_a_live_claim_is_not_claimed_again_even_for_new_rows(
        store: Store, replica: Store, make_send: MakeSend, t0: datetime) -> None:
    """A claims contact c1's rows; a comment queued afterwards for c1 is not claimable by B
    until A's lease ends (both sides of the edge); B gets c2's rows meanwhile."""
    first = _answered(store, make_send, t0, "a", "c1")
    _answered(store, make_send, t0, "b", "c2")
    a = store.claim_writebacks("hubspot", t0, 2, LEASE)
    assert {r.contact_id for r in a.rows} == {"c1"}
    store.record_comment(first, "late", t0)
    b = replica.claim_writebacks("hubspot", t0, 100, LEASE)
    assert {r.contact_id for r in b.rows} == {"c2"}
    assert replica.mark_writebacks_done([r.id for r in b.rows], t0, token=b.token) == 2
    assert replica.claim_writebacks("hubspot", a.until - US, 100, LEASE).rows == []
    late = replica.claim_writebacks("hubspot", a.until, 100, LEASE)
    assert ([r.contact_id for r in late.rows], len(late.rows)) == (["c1"] * 3, 3)


def test_only_the_holder_settles_and_release_hands_rows_back(
        store: Store, replica: Store, make_send: MakeSend, t0: datetime) -> None:
    """Settling with another token changes nothing; a release makes the rows claimable now."""
    _answered(store, make_send, t0, "a", "c1")
    a = store.claim_writebacks("hubspot", t0, 100, LEASE)
    ids = [r.id for r in a.rows]
    assert replica.mark_writebacks_done(ids, t0, token="not-the-holder") == 0
    assert store.release_writeback_claim(a.token) == 2
    b = replica.claim_writebacks("hubspot", t0, 100, LEASE)
    assert [r.id for r in b.rows] == ids
    assert store.mark_writebacks_done(ids, t0, token=a.token) == 0
    assert replica.mark_writebacks_done(ids, t0, token=b.token) == 2
    assert store.counts()["writebacks.done"] == 2


def test_rows_of_a_lapsed_claim_are_held_until_its_end_then_come_back_lapsed(
        store: Store, replica: Store, make_send: MakeSend, t0: datetime) -> None:
    """A writer claims and dies: its rows count as `writebacks.held` / `hooks.held` while
    the lease runs (not at its end), and the next claim marks them `lapsed` (their write may
    have landed); rows handed back by a release or never claimed are not lapsed."""
    _answered(store, make_send, t0, "a", "c1")
    store.add_sends([make_send("t", contact_id="c2", ticket_id="77")])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    store.begin_sending(send.id, t0)
    store.mark_sent(send.id, t0, "<t@x>")
    store.record_response(send.id, 4, "satisfied", t0)
    at = t0 + HOOK_SETTLE  # the hook row is due too
    fresh = store.claim_writebacks("hubspot", at, 100, LEASE)
    assert [r.lapsed for r in fresh.rows] == [False] * 5
    assert store.release_writeback_claim(fresh.token) == 5
    a = store.claim_writebacks("hubspot", at, 100, LEASE)  # then killed
    assert sorted(r.kind for r in a.rows) == ["answer", "answer", "hook", "sent", "sent"]
    held = store.counts(a.until - US)
    assert (held.get("writebacks.held"), held.get("hooks.held")) == (4, 1)
    assert not {"writebacks.held", "hooks.held"} & set(store.counts(a.until))
    b = replica.claim_writebacks("hubspot", a.until, 100, LEASE)
    assert ([r.lapsed for r in b.rows], len(b.rows)) == ([True] * 5, 5)


def test_a_release_as_lapsed_hands_rows_back_now_but_as_possibly_written(
        store: Store, replica: Store, make_send: MakeSend, t0: datetime) -> None:
    """A writer that raised mid-round releases its rows `lapsed`: anyone may claim them at
    once (not held, not waiting out the lease), and they come back `lapsed`; a later plain
    release of that new claim hands them back as new again."""
    _answered(store, make_send, t0, "a", "c1")
    a = store.claim_writebacks("hubspot", t0, 100, LEASE)
    assert store.release_writeback_claim(a.token, lapsed=True) == 2
    assert "writebacks.held" not in store.counts(t0)
    b = replica.claim_writebacks("hubspot", t0, 100, LEASE)
    assert ([r.lapsed for r in b.rows], [r.id for r in b.rows]) == (
        [True, True], [r.id for r in a.rows])
    assert replica.release_writeback_claim(b.token) == 2
    c = store.claim_writebacks("hubspot", t0, 100, LEASE)
    assert [r.lapsed for r in c.rows] == [False, False]


@pytest.mark.parametrize(("limit", "first", "more"), [(2, ["c1", "c1"], True),
                                                       (3, ["c1", "c1"], True),
                                                       (4, ["c1", "c1", "c2", "c2"], False)])
def test_a_claim_takes_whole_contacts(store: Store, make_send: MakeSend, t0: datetime,
                                      limit: int, first: list[str], more: bool) -> None:
    """Two contacts of two rows each (a sent date, an answer): a limit of 3 would cut c2,
    so the claim leaves it whole for the next one (one write each, not c2 twice); at 2 and
    4 the limit falls between contacts. `more` says rows were left (the writer goes on),
    whatever the claim's own size."""
    _answered(store, make_send, t0, "a", "c1")
    _answered(store, make_send, t0, "b", "c2")
    a = store.claim_writebacks("hubspot", t0, limit, LEASE)
    b = store.claim_writebacks("hubspot", t0, limit, LEASE)
    assert ([r.contact_id for r in a.rows], sorted(r.contact_id for r in b.rows),
            a.more, b.more) == (first, ["c2", "c2"] if len(first) == 2 else [], more, False)


def test_a_contact_with_more_rows_than_the_limit_is_claimed_in_part(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """The only contact claimed keeps its first rows (nothing else could go); the rest
    waits for the claim to settle."""
    first = _answered(store, make_send, t0, "a", "c1")
    store.record_comment(first, "more", t0)
    a = store.claim_writebacks("hubspot", t0, 2, LEASE)
    assert ([r.contact_id for r in a.rows],
            store.claim_writebacks("hubspot", t0, 2, LEASE).rows) == (["c1", "c1"], [])


def test_concurrent_claimers_take_disjoint_rows(store: Store, make_send: MakeSend,
                                                t0: datetime) -> None:
    """Eight threads claim at once over 40 contacts: every row is claimed exactly once."""
    for n in range(40):
        _answered(store, make_send, t0, f"k{n}", f"c{n:02d}")
    got: list[int] = []
    lock = threading.Lock()

    def claim() -> None:
        other = Store(store.engine.url.render_as_string(hide_password=False))
        try:
            rows = other.claim_writebacks("hubspot", t0, 10, LEASE).rows
        finally:
            other.dispose()
        with lock:
            got.extend(r.id for r in rows)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (len(got), len(set(got))) == (80, 80)


def test_job_lock_is_held_until_its_lease_ends_or_it_is_released(
        store: Store, replica: Store, t0: datetime) -> None:
    """B cannot take A's lock before A's lease ends (edge: exactly then it can); A can
    re-take its own; a release frees it at once."""
    assert store.try_job_lock("poll:hubspot", "A", t0, LEASE)
    assert not replica.try_job_lock("poll:hubspot", "B", t0 + LEASE - US, LEASE)
    assert store.try_job_lock("poll:hubspot", "A", t0 + timedelta(seconds=1), LEASE)
    assert replica.try_job_lock("poll:hubspot", "B", t0 + timedelta(seconds=1) + LEASE, LEASE)
    assert not store.renew_job_lock("poll:hubspot", "A", t0 + 2 * LEASE)
    assert replica.try_job_lock("other:hubspot", "B", t0, LEASE)
    replica.release_job_lock("other:hubspot", "B", t0, finished=False)
    assert store.try_job_lock("other:hubspot", "A", t0, LEASE)


def test_job_lock_gap_skips_a_run_another_replica_just_finished(
        store: Store, replica: Store, t0: datetime) -> None:
    """After A finishes at t0, B may run only from t0 + gap (edge both sides); A at once."""
    gap = timedelta(seconds=54)
    assert store.try_job_lock("poll:hubspot", "A", t0, LEASE, gap)
    store.release_job_lock("poll:hubspot", "A", t0)
    assert not replica.try_job_lock("poll:hubspot", "B", t0 + gap - US, LEASE, gap)
    assert store.try_job_lock("poll:hubspot", "A", t0, LEASE, gap)
    store.release_job_lock("poll:hubspot", "A", t0)
    assert replica.try_job_lock("poll:hubspot", "B", t0 + gap, LEASE, gap)
    assert set(store.job_locks()) == {"poll:hubspot"}


def test_two_replicas_racing_for_a_free_lock_get_it_once(store: Store, t0: datetime) -> None:
    """Eight threads try the same lock at once: exactly one holds it."""
    won: list[str] = []

    def take(name: str) -> None:
        other = Store(store.engine.url.render_as_string(hide_password=False))
        try:
            if other.try_job_lock("poll:zendesk", name, t0, LEASE):
                won.append(name)
        finally:
            other.dispose()

    threads = [threading.Thread(target=take, args=(f"r{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1
