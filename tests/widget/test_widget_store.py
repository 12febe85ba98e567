"""The widget's store methods on SQLite and PostgreSQL: in-page surveys stored as sent with
their ledger, write-back and event; idempotent; "Not now" never shortened; the contact found."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Base

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
EVENTS = Base.metadata.tables["events"]
WRITEBACKS = Base.metadata.tables["writebacks"]


def web_send(key: str = "widget:acme:web_nps:c1:2026-03-04") -> NewSend:
    return NewSend(idem_key=key, program="web_nps", survey_type="nps", source="hubspot",
                   contact_id="c1", due_at=NOW, created_at=NOW, email="Ana@Example.test",
                   status="sent", channel="web", trigger="widget")


def test_open_web_survey_is_sent_with_ledger_write_back_and_event(store: Store) -> None:
    """One call stores the row as sent and, with it, the ledger ('*' and the program), a
    'sent' write-back and a survey.sent event; a second call with the same key stores
    nothing more and returns the same row."""
    first = store.open_web_survey(web_send(), NOW)
    again = store.open_web_survey(web_send(), NOW + timedelta(minutes=5))
    assert (first.id, first.status, first.sent_at, first.channel) == (again.id, "sent", NOW,
                                                                      "web")
    book = store.person_book(["ana@example.test"])
    assert (book.last_sent("ana@example.test", "*"),
            book.last_sent("ana@example.test", "web_nps")) == (NOW, NOW)
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(WRITEBACKS))]
        events = [r.kind for r in conn.execute(select(EVENTS))]
    assert (kinds, events) == (["sent"], ["survey.sent"])
    assert store.claim_due_sends(NOW + timedelta(days=1), 10, timedelta(minutes=1)) == []


def test_tabs_and_replicas_opening_the_same_survey_at_once_store_one(store: Store) -> None:
    """Eight threads (tabs of one person, replicas behind a balancer) open the same in-page
    survey at the same moment: all get the one row, and one ledger update, one write-back
    and one event exist: the person is never counted as surveyed twice."""
    barrier, ids, lock = threading.Barrier(8), [], threading.Lock()

    def open_one() -> None:
        barrier.wait()
        sent = store.open_web_survey(web_send(), NOW)
        with lock:
            ids.append(sent.id)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(WRITEBACKS))]
        events = [r.kind for r in conn.execute(select(EVENTS))]
        sends = conn.execute(select(Base.metadata.tables["sends"].c.id)).scalars().all()
    assert (len(ids), len(set(ids)), sends) == (8, 1, ids[:1])
    assert (kinds, events) == (["sent"], ["survey.sent"])


def test_open_surveys_are_the_unanswered_ones_since(store: Store) -> None:
    """Offered again: shown at or after `since` and not answered; an answer removes it."""
    sent = store.open_web_survey(web_send(), NOW)
    assert [s.id for s in store.open_web_surveys("ana@example.test", ["web_nps"], NOW)] \
        == [sent.id]
    assert store.open_web_surveys("ana@example.test", ["web_nps"],
                                  NOW + timedelta(seconds=1)) == []
    store.record_response(sent.id, 8, "passive", NOW)
    assert store.open_web_surveys("ana@example.test", ["web_nps"], NOW) == []


def test_not_now_is_per_site_and_never_shortened(store: Store) -> None:
    """A later dismissal extends, an earlier one does not shorten; sites are apart."""
    store.dismiss_widget("acme", "Ana@example.test", NOW + timedelta(days=14), NOW)
    store.dismiss_widget("acme", "ana@example.test", NOW + timedelta(days=3), NOW)
    assert store.widget_dismissed_until("acme", "ana@example.test") == NOW + timedelta(days=14)
    store.dismiss_widget("acme", "ana@example.test", NOW + timedelta(days=20), NOW)
    assert store.widget_dismissed_until("acme", "ana@example.test") == NOW + timedelta(days=20)
    assert store.widget_dismissed_until("other", "ana@example.test") is None


def test_known_contact_is_the_newest_survey_row_of_that_source(store: Store) -> None:
    """The contact id the newest survey of this person in this CRM carried; None elsewhere."""
    for n, at in ((1, NOW - timedelta(days=9)), (2, NOW - timedelta(days=2))):
        store.add_sends([NewSend(idem_key=f"k{n}", program="csat", survey_type="csat",
                                 source="hubspot", contact_id=f"c{n}", due_at=at,
                                 created_at=at, email="ana@example.test", language="nb")])
    found = store.known_contact("ANA@example.test", "hubspot")
    assert found is not None
    assert (found.contact_id, found.language) == ("c2", "nb")
    assert store.known_contact("ana@example.test", "zendesk") is None


def test_forget_removes_the_dismissal(store: Store) -> None:
    """`forget` takes the person's "Not now" rows with the rest of their data."""
    store.dismiss_widget("acme", "ana@example.test", NOW + timedelta(days=14), NOW)
    store.forget("ana@example.test", NOW)
    assert store.widget_dismissed_until("acme", "ana@example.test") is None


def test_status_counts_in_page_surveys_and_not_now(store: Store) -> None:
    """`closedloop status`: shown and answered in-page surveys, and "Not now" in force at
    `now` (one ending exactly now no longer counts; one ending a second later does); no
    widget line at all before the widget was used."""
    assert [k for k in store.counts(NOW) if k.startswith("widget.")] == []
    sent = store.open_web_survey(web_send(), NOW)
    store.open_web_survey(web_send("widget:acme:web_nps:c2:2026-03-04"), NOW)
    store.record_response(sent.id, 10, "promoter", NOW)
    store.dismiss_widget("acme", "ana@example.test", NOW + timedelta(days=1), NOW)
    store.dismiss_widget("acme", "bo@example.test", NOW + timedelta(days=1, seconds=1), NOW)
    counts = store.counts(NOW + timedelta(days=1))
    assert (counts["widget.shown"], counts["widget.answered"], counts["widget.not_now"]) \
        == (2, 1, 1)
