"""restore_preference (the page's "Undo") and preference_of on SQLite and PostgreSQL: what
held before a choice holds again, the CRM hears the change, a bounce is never lifted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_store_preferences import LATER, NOW, add, preference_data, suppression

from closedloop.daemon.store import Preference, Store, UnknownSend

NOTHING = Preference(unsubscribed=False, snoozed_until=None)


def test_undo_of_never_again_lifts_it_and_tells_the_crm(store: Store) -> None:
    send = add(store, 1)
    before = store.preference_of(send, NOW)
    store.record_preference(send, "unsubscribe", None, NOW)
    assert store.restore_preference(send, before, NOW) == NOTHING
    assert suppression(store) is None
    assert store.preference_of(send, NOW) == NOTHING
    assert [d["unsubscribed"] for _, _, d in preference_data(store)] == [True, False]


def test_undo_puts_the_earlier_snooze_back_to_its_date(store: Store) -> None:
    send = add(store, 1)
    store.record_preference(send, "snooze", LATER, NOW)
    before = store.preference_of(send, NOW)
    assert before == Preference(False, LATER)
    store.record_preference(send, "unsubscribe", None, NOW)
    assert store.restore_preference(send, before, NOW) == Preference(False, LATER)
    assert suppression(store) == ("snoozed", LATER)


def test_undo_twice_changes_nothing_the_second_time(store: Store) -> None:
    """A double-posted Undo queues one write-back, not two."""
    send = add(store, 1)
    store.record_preference(send, "snooze", LATER, NOW)
    store.restore_preference(send, NOTHING, NOW)
    store.restore_preference(send, NOTHING, NOW)
    assert len(preference_data(store)) == 2


def test_a_snooze_that_has_run_out_restores_as_nothing(store: Store) -> None:
    """Both sides of the edge: a snooze ending exactly now is over, one a second later is not."""
    send = add(store, 1)
    store.record_preference(send, "unsubscribe", None, NOW)
    assert store.restore_preference(send, Preference(False, NOW), NOW) == NOTHING
    store.record_preference(send, "unsubscribe", None, NOW)
    later = NOW + timedelta(seconds=1)
    assert store.restore_preference(send, Preference(False, later), NOW) == Preference(False,
                                                                                     later)


def test_undo_never_lifts_a_bounce(store: Store) -> None:
    send = add(store, 1)
    store.suppress("ana@example.test", "bounced", NOW)
    assert store.restore_preference(send, NOTHING, NOW) == NOTHING
    assert suppression(store) == ("bounced", None)
    assert preference_data(store) == []


def test_undo_for_an_unknown_send_raises(store: Store) -> None:
    with pytest.raises(UnknownSend):
        store.restore_preference(99, NOTHING, NOW)
