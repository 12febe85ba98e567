"""record_preference on SQLite and PostgreSQL: choices only strengthen, and the CRM is told
exactly what holds, once per change, in the same transaction as the suppression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from closedloop.daemon.store import NewSend, Preference, Store, UnknownSend
from closedloop.daemon.store.tables import Suppression, WriteBack

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=182)


def add(store: Store, n: int, email: str | None = "Ana@Example.test") -> int:
    store.add_sends([NewSend(
        idem_key=f"k{n}", program="nps", survey_type="nps", source="zendesk",
        contact_id=f"u{n}", due_at=NOW, created_at=NOW, email=email,
    )])
    return n  # ids count from 1 in a fresh (or truncated) database


def suppression(store: Store) -> tuple[str, datetime | None] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(Suppression.reason, Suppression.until)).first()
    if row is None:
        return None
    until = row.until
    return row.reason, until.replace(tzinfo=UTC) if until and until.tzinfo is None else until


def preference_data(store: Store) -> list[tuple[str, str, dict[str, object]]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(WriteBack.source, WriteBack.contact_id, WriteBack.data)
                            .where(WriteBack.kind == "preference").order_by(WriteBack.id))
        return [(r.source, r.contact_id, r.data) for r in rows]


def test_snooze_then_longer_snooze_then_shorter(store: Store) -> None:
    """A longer snooze extends; a shorter one never cuts it (and tells the CRM nothing)."""
    send = add(store, 1)
    assert store.record_preference(send, "snooze", LATER, NOW) == Preference(False, LATER)
    longer = LATER + timedelta(days=30)
    assert store.record_preference(send, "snooze", longer, NOW) == Preference(False, longer)
    assert store.record_preference(send, "snooze", LATER, NOW) == Preference(False, longer)
    assert suppression(store) == ("snoozed", longer)
    assert [d["snoozed_until"] for _, _, d in preference_data(store)] == [
        LATER.isoformat(), longer.isoformat()]


def test_unsubscribe_outranks_every_later_snooze(store: Store) -> None:
    """"Never again" is permanent; a snooze afterwards changes neither store nor CRM."""
    send = add(store, 1)
    assert store.record_preference(send, "unsubscribe", None, NOW) == Preference(True, None)
    assert store.record_preference(send, "snooze", LATER, NOW) == Preference(True, None)
    assert suppression(store) == ("unsubscribed", None)
    assert store.is_suppressed("ana@example.test", LATER + timedelta(days=3650)) is True
    assert preference_data(store) == [
        ("zendesk", "u1", {"unsubscribed": True, "snoozed_until": None,
                           "updated_at": NOW.isoformat()})]


def test_an_ended_snooze_is_replaced(store: Store) -> None:
    """Once a snooze has run out, a new one starts from scratch (not max() with the old)."""
    send = add(store, 1)
    store.record_preference(send, "snooze", NOW + timedelta(days=1), NOW)
    then = NOW + timedelta(days=2)
    result = store.record_preference(send, "snooze", then + timedelta(days=5), then)
    assert result == Preference(False, then + timedelta(days=5))
    assert len(preference_data(store)) == 2


def test_a_hard_bounce_is_not_softened_by_a_snooze(store: Store) -> None:
    """A bounced address stays suppressed for good; a bounce is not the person's choice,
    so the CRM hears neither "unsubscribed" nor a snooze it could not honour."""
    send = add(store, 1)
    store.suppress("ana@example.test", "bounced", NOW)
    assert store.record_preference(send, "snooze", LATER, NOW) == Preference(False, None)
    assert suppression(store) == ("bounced", None)
    assert preference_data(store) == []


def test_same_person_across_sends_and_case(store: Store) -> None:
    """The suppression is the person's (normalized address), whichever send the link was."""
    add(store, 1, "Ana@Example.test")
    second = add(store, 2, " ana@example.TEST ")
    store.record_preference(second, "unsubscribe", None, NOW)
    assert store.is_suppressed("ANA@example.test", NOW) is True
    assert [c for _, c, _ in preference_data(store)] == ["u2"]


def test_bad_calls_raise_and_change_nothing(store: Store) -> None:
    """Unknown send, unknown choice, a snooze without a future end: errors, nothing written."""
    send = add(store, 1)
    with pytest.raises(UnknownSend):
        store.record_preference(99, "unsubscribe", None, NOW)
    with pytest.raises(ValueError, match="unknown preference"):
        store.record_preference(send, "forever", None, NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="future"):
        store.record_preference(send, "snooze", NOW, NOW)
    assert suppression(store) is None
    assert preference_data(store) == []
