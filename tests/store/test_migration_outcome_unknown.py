"""Migration 0004: sends an older version left interrupted mid-SMTP become outcome_unknown.

A database at 0002 with such rows (skipped as interrupted_during_send, or stuck in
'sending') is upgraded on a real SQLite file and a real PostgreSQL schema. Pinned: those
rows are outcome_unknown, their surveys move the ledger (never backwards), other rows and
other people's ledger rows are untouched.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import alembic_config

_SEND = ("INSERT INTO sends (idem_key, program, survey_type, source, contact_id, email, "
         "email_norm, created_at, due_at, status, skip_reason, attempts, sent_at, kind) "
         "VALUES (:key, 'p', 'csat', 'hubspot', '1', :email, :email, '2026-11-01 00:00:00', "
         ":due, :status, :reason, 1, :sent, :kind)")
_LEDGER = ("INSERT INTO ledger (email_norm, program, last_sent_at, source) "
           "VALUES (:email, :program, :at, 'hubspot')")


def test_interrupted_sends_become_outcome_unknown_and_hold_the_cooldown(old_url: str) -> None:
    """ada: an interrupted survey due after her last sent one → ledger moves to its due time.
    bob: a survey stuck in 'sending' → outcome_unknown, a new ledger row. cy: interrupted
    before her last sent one → her ledger stays. dan: an interrupted reminder → no ledger
    row. A plain skip keeps its reason."""
    rows = [
        ("a-old", "ada@example.com", "2026-11-01 00:00:00", "sent", None,
         "2026-11-01 00:00:00", "survey"),
        ("a-cut", "ada@example.com", "2026-11-10 00:00:00", "skipped",
         "interrupted_during_send", None, "survey"),
        ("b-cut", "bob@example.com", "2026-11-12 00:00:00", "sending", None, None, "survey"),
        ("c-cut", "cy@example.com", "2026-11-03 00:00:00", "skipped",
         "interrupted_during_send", None, "survey"),
        ("c-new", "cy@example.com", "2026-11-05 00:00:00", "sent", None,
         "2026-11-05 00:00:00", "survey"),
        ("d-rem", "dan@example.com", "2026-11-06 00:00:00", "skipped",
         "interrupted_during_send", None, "reminder"),
        ("e-skip", "eve@example.com", "2026-11-06 00:00:00", "skipped", "no_email", None,
         "survey"),
    ]
    ledger = [("ada@example.com", "p", "2026-11-01 00:00:00"),
              ("ada@example.com", "*", "2026-11-01 00:00:00"),
              ("cy@example.com", "p", "2026-11-05 00:00:00"),
              ("cy@example.com", "*", "2026-11-05 00:00:00")]
    store = Store(old_url)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")
            for key, email, due, status, reason, sent, kind in rows:
                conn.execute(text(_SEND), {"key": key, "email": email, "due": due,
                                           "status": status, "reason": reason, "sent": sent,
                                           "kind": kind})
            for email, program, at in ledger:
                conn.execute(text(_LEDGER), {"email": email, "program": program, "at": at})
        store.migrate()
        states = {s.idem_key: (s.status, s.skip_reason)
                  for s in map(store.get_send, range(1, len(rows) + 1)) if s}
        book = store.person_book(["ada@example.com", "bob@example.com", "cy@example.com",
                                  "dan@example.com"])
        last = {(p, prog): book.last_sent(p, prog)
                for p in ("ada@example.com", "bob@example.com", "cy@example.com",
                          "dan@example.com") for prog in ("p", "*")}
    finally:
        store.dispose()
    unknown = ("outcome_unknown", "interrupted_during_send")
    assert states == {"a-old": ("sent", None), "a-cut": unknown, "b-cut": unknown,
                      "c-cut": unknown, "c-new": ("sent", None), "d-rem": unknown,
                      "e-skip": ("skipped", "no_email")}
    assert {k: v.strftime("%m-%d") if v else None for k, v in last.items()} == {
        ("ada@example.com", "p"): "11-10", ("ada@example.com", "*"): "11-10",
        ("bob@example.com", "p"): "11-12", ("bob@example.com", "*"): "11-12",
        ("cy@example.com", "p"): "11-05", ("cy@example.com", "*"): "11-05",
        ("dan@example.com", "p"): None, ("dan@example.com", "*"): None}
