"""Store.forget and Store.export_responses, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.follow_ups import FOLLOW_UPS
from closedloop.daemon.store.privacy import FORGOTTEN, LEDGER, MEMBERS
from closedloop.daemon.store.sends import WRITEBACKS

MakeSend = Callable[..., NewSend]
LEASE = timedelta(minutes=5)


def _sent(store: Store, make_send: MakeSend, t0: datetime, key: str, **kw: object) -> int:
    store.add_sends([make_send(key, **kw)])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(send.id, t0)
    store.mark_sent(send.id, t0, f"<{key}@x>")
    return send.id


def _writebacks(store: Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(WRITEBACKS.c.contact_id, WRITEBACKS.c.kind,
                                   WRITEBACKS.c.status).order_by(WRITEBACKS.c.id))
        return [tuple(r) for r in rows]


def test_forget_erases_the_person_and_keeps_idempotency(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Responses, their write-backs and the ledger go; sends stay, scrubbed, with their keys;
    an unsent one is cancelled; one 'forget' write-back per CRM record; others untouched."""
    answered = _sent(store, make_send, t0, "a", email="Ada@Example.com", contact_id="c1",
                     subject="Refund for Ada Lovelace", first_name="Ada")
    store.record_response(answered, 2, "unsatisfied", t0)
    store.record_comment(answered, "call me on +47 555", t0)
    store.add_sends([make_send("b", email="ada@example.com", contact_id="c1",
                               due_at=t0 + timedelta(days=1)),
                     make_send("z", email="zoe@example.com", contact_id="c9")])
    other = store.get_send(3)
    assert other is not None

    result = store.forget(" ADA@example.com", t0 + timedelta(hours=1))

    assert (result.responses, result.sends_scrubbed, result.sends_cancelled) == (1, 2, 1)
    assert result.contacts == (("hubspot", "c1"),)
    assert (result.found, result.suppressed, result.ledger_rows) == (True, False, 2)
    assert store.get_response(answered) is None
    sent = store.get_send(answered)
    assert sent is not None
    assert (sent.email, sent.email_norm, sent.first_name, sent.subject) == (None,) * 4
    assert (sent.idem_key, sent.status, sent.ticket_id) == ("a", "sent", "t-a")
    queued = store.get_send(2)
    assert queued is not None
    assert (queued.status, queued.skip_reason, queued.email) == ("skipped", FORGOTTEN, None)
    assert store.add_sends([make_send("a", email="ada@example.com")]) == 0  # key still held
    assert _writebacks(store) == [("c1", "forget", "pending")]
    assert store.get_send(3) == other
    assert store.claim_due_sends(t0 + timedelta(days=2), 10, LEASE)[0].idem_key == "z"


def test_forget_reaches_members_and_preferences(store: Store, make_send: MakeSend,
                                                t0: datetime) -> None:
    """An NPS member never surveyed is still forgotten (and blanked); a preference row of the
    contact goes; the suppression stays so the address is never mailed again."""
    send_id = _sent(store, make_send, t0, "m", email="max@example.com", contact_id="c5")
    store.record_preference(send_id, "unsubscribe", None, t0)
    with store.engine.begin() as conn:
        conn.execute(MEMBERS.insert().values(program="nps-q", source="zendesk", contact_id="u7",
                                             email_norm="max@example.com", first_seen_at=t0,
                                             last_seen_at=t0))
    result = store.forget("max@example.com", t0)
    assert result.contacts == (("hubspot", "c5"), ("zendesk", "u7"))
    assert (result.member_rows, result.suppressed) == (1, True)
    assert sorted(_writebacks(store)) == [("c5", "forget", "pending"),
                                          ("u7", "forget", "pending")]
    assert store.is_suppressed("max@example.com", t0)
    with store.engine.connect() as conn:
        assert conn.execute(select(LEDGER)).all() == []
        assert conn.execute(select(MEMBERS)).all() == []


def test_forget_of_an_unknown_address_finds_nothing(store: Store, make_send: MakeSend,
                                                    t0: datetime) -> None:
    _sent(store, make_send, t0, "k", email="kim@example.com")
    result = store.forget("nobody@example.com", t0)
    assert (result.found, result.contacts, result.responses) == (False, (), 0)
    assert store.counts()["sends.sent"] == 1


def test_export_streams_every_response_in_change_order(
        store: Store, make_send: MakeSend, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of EXPORT_BATCH chain without gaps or repeats; `since` compares updated_at."""
    monkeypatch.setattr("closedloop.daemon.store.privacy.EXPORT_BATCH", 2)
    ids = [_sent(store, make_send, t0, f"e{i}", contact_id=f"c{i}", team_id="9",
                 organization_id="org1") for i in range(5)]
    for i, send_id in enumerate(ids):
        store.record_response(send_id, 1 + i, "unsatisfied" if i < 3 else "satisfied",
                              t0 + timedelta(minutes=i % 2))  # equal times across pages
    store.record_comment(ids[0], "later", t0 + timedelta(hours=1))
    rows = list(store.export_responses())
    assert [r.contact_id for r in rows] == ["c2", "c4", "c1", "c3", "c0"]
    first = rows[-1]
    assert (first.score, first.comment, first.team_id, first.organization_id) == (
        1, "later", "9", "org1")
    assert (first.answered_at, first.updated_at) == (t0, t0 + timedelta(hours=1))
    assert first.ticket_id == "t-e0"
    assert [r.contact_id for r in store.export_responses(t0 + timedelta(minutes=1))] == [
        "c1", "c3", "c0"]


def test_forget_queues_an_erasure_per_survey_whose_hook_or_follow_up_may_have_landed(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A hook already written with a created follow-up, and a hook claimed by a writer right
    now (its note may land), each give one 'erase' row naming only record ids; a hook still
    waiting is dropped and needs none. A follow-up created after the forget is found by the
    job's read at write time. A second forget queues nothing more."""
    written = _sent(store, make_send, t0, "a", email="ada@example.com", contact_id="c1")
    waiting = _sent(store, make_send, t0, "b", email="ada@example.com", contact_id="c1")
    claimed = _sent(store, make_send, t0, "c", email="ada@example.com", contact_id="c1")
    for send_id in (written, waiting, claimed):
        store.record_response(send_id, 1, "unsatisfied", t0)
        store.record_comment(send_id, "awful", t0)
    with store.engine.begin() as conn:
        hook = WRITEBACKS.c.kind == "hook"
        conn.execute(WRITEBACKS.update().where(WRITEBACKS.c.send_id == written, hook)
                     .values(status="done"))
        conn.execute(WRITEBACKS.update().where(WRITEBACKS.c.send_id == claimed, hook)
                     .values(claim_token="t", claimed_until=t0 + LEASE))
        conn.execute(FOLLOW_UPS.update().where(FOLLOW_UPS.c.send_id == written)
                     .values(crm_id="9001"))

    result = store.forget("ada@example.com", t0 + timedelta(minutes=1))

    assert result.erasures == 2
    with store.engine.connect() as conn:
        rows = conn.execute(select(WRITEBACKS.c.send_id, WRITEBACKS.c.contact_id,
                                   WRITEBACKS.c.data, WRITEBACKS.c.status)
                            .where(WRITEBACKS.c.kind == "erase")
                            .order_by(WRITEBACKS.c.id)).all()
    assert [tuple(r) for r in rows] == [
        (written, "c1", {"ticket_id": "t-a", "follow_ups": ["9001"]}, "pending"),
        (claimed, "c1", {"ticket_id": "t-c", "follow_ups": []}, "pending")]
    with store.engine.begin() as conn:  # the follow-up job settles a create after the forget
        conn.execute(FOLLOW_UPS.update().where(FOLLOW_UPS.c.send_id == claimed)
                     .values(crm_id="9002"))
    assert store.follow_up_crm_ids([written, waiting, claimed]) == {written: "9001",
                                                                     claimed: "9002"}
    again = store.forget("ada@example.com", t0 + timedelta(hours=2))
    assert (again.found, again.erasures) == (False, 0)


def test_forget_keeps_the_custom_segments_and_export_carries_them(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Segments are business attributes (daemon.privacy): a scrubbed send keeps them, so
    response rates per store stay right; an answered send's export row carries them."""
    places = {"region": "north", "store": "oslo"}
    gone = _sent(store, make_send, t0, "g", email="gone@example.com", segments=places)
    kept = _sent(store, make_send, t0, "k", email="kept@example.com", segments=places)
    store.record_response(kept, 5, "satisfied", t0)

    store.forget("gone@example.com", t0 + timedelta(hours=1))

    scrubbed = store.get_send(gone)
    assert scrubbed is not None
    assert (scrubbed.email, scrubbed.segments) == (None, places)
    assert [r.segments for r in store.export_responses()] == [places]
