"""Migration 0006: responses gain the attribution at answer time, NULL for older answers.

A database at 0005 with a sent survey and its response is upgraded on a real SQLite file
and a real PostgreSQL schema. Pinned: the response keeps its values and reads as not yet
attributed (so the write-back reads its ticket once, if its hook is still pending); a
downgrade on SQLite keeps AUTOINCREMENT (response ids leave the system in exports).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import alembic_config

_SEND = ("INSERT INTO sends (idem_key, program, survey_type, source, ticket_id, contact_id, "
         "created_at, due_at, status, attempts, kind, owner_id, team_id) VALUES ('k', "
         "'support-csat', 'csat', 'hubspot', '55', '1', '2026-11-01 00:00:00', "
         "'2026-11-01 00:00:00', 'sent', 1, 'survey', '101', '7')")
_RESPONSE = ("INSERT INTO responses (send_id, score, comment, category, answered_at, "
             "updated_at) VALUES (1, 2, 'slow', 'unsatisfied', '2026-11-02 00:00:00', "
             "'2026-11-02 00:00:00')")


def test_an_older_response_is_kept_and_reads_as_not_yet_attributed(old_url: str) -> None:
    """The 0005 response upgrades with its score and close-time owner, no answer-time owner,
    and `unattributed_sends` names it."""
    store = Store(old_url)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0005")
            conn.execute(text(_SEND))
            conn.execute(text(_RESPONSE))
        store.migrate()
        got = store.attributed_response(1)
        todo = store.unattributed_sends([1])
    finally:
        store.dispose()
    assert got is not None
    assert (got.response.score, got.response.comment, got.owner_id_at_close,
            got.owner_id_at_answer, got.attributed) == (2, "slow", "101", None, False)
    assert todo == [1]


def test_downgrade_on_sqlite_keeps_autoincrement(tmp_path: Path) -> None:
    """0006 down to 0005 rebuilds responses on SQLite: its AUTOINCREMENT stays."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.migrate()
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'responses'"))
    finally:
        store.dispose()
    assert "AUTOINCREMENT" in str(sql)
    assert "owner_id_at_answer" not in str(sql)
