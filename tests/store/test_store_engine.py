"""Engine set-up and migrations: URL handling, SQLite pragmas, schema == tables.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from closedloop.daemon.store import Store, parse_url
from closedloop.daemon.store.engine import alembic_config, reading
from closedloop.daemon.store.tables import Base
from closedloop.integration.errors import ConfigError


def test_postgresql_urls_use_psycopg3() -> None:
    """postgresql:// and postgres:// are pinned to psycopg 3, the driver we ship."""
    expected = "postgresql+psycopg"
    actual = [
        parse_url(url).drivername
        for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db")
    ]
    assert [expected] * 3 == actual


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "driver 'psycopg2'"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:////no/such/folder/state.db", "does not exist"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_urls_are_one_line_config_errors(url: str, fragment: str) -> None:
    """A wrong store URL is a ConfigError with one problem line naming what is wrong."""
    with pytest.raises(ConfigError) as caught:
        Store(url)
    assert len(caught.value.problems) == 1
    assert fragment in caught.value.problems[0]


def test_bad_url_error_hides_the_password() -> None:
    """The error message for an unusable URL never repeats its password."""
    with pytest.raises(ConfigError) as caught:
        Store("oracle://scott:tiger@db.example/orcl")
    assert "tiger" not in str(caught.value)


def test_sqlite_connections_use_wal_and_safe_pragmas(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL with foreign keys, a busy timeout, synchronous=NORMAL."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.engine.connect() as conn:
            actual = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        store.dispose()
    assert actual == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000,
            "synchronous": 1}


def test_sqlite_writes_begin_immediate_and_a_held_lock_is_sqlalchemys_error(
        tmp_path: Path) -> None:
    """SQLite: a write transaction takes the write lock at BEGIN (another connection's
    BEGIN IMMEDIATE then waits), a read transaction does not; and a BEGIN IMMEDIATE that
    cannot get the lock fails with SQLAlchemy's OperationalError, what callers catch, not
    the driver's own error."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    other = sqlite3.connect(tmp_path / "state.db", timeout=0, isolation_level=None)
    try:
        with reading(store.engine):
            other.execute("BEGIN IMMEDIATE")  # a reader holds no write lock
            other.execute("ROLLBACK")
        with store.engine.begin(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        with store.engine.connect() as conn:  # the pool's connection: no 10-s wait below
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="database is locked"), store.engine.begin():
            pass
        other.execute("ROLLBACK")
        with store.engine.begin() as conn:  # and the connection works on afterwards
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        other.close()
        store.dispose()


def test_migrate_is_idempotent(store: Store) -> None:
    """migrate() on an up-to-date schema changes nothing and leaves the head revision."""
    store.migrate()
    store.migrate()
    with store.engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert revision == [_head()]


def test_migrated_schema_matches_tables_metadata(store: Store) -> None:
    """The migrations build exactly the schema tables.py declares (autogenerate sees no diff)."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []


def test_migration_creates_every_table(pg_url: str) -> None:
    """On an empty PostgreSQL schema migrate() creates all tables of tables.py."""
    store = Store(pg_url)
    try:
        store.migrate()
        actual = set(inspect(store.engine).get_table_names())
    finally:
        store.dispose()
    assert set(Base.metadata.tables) | {"alembic_version"} == actual


def test_naive_datetimes_are_refused(store: Store) -> None:
    """A naive datetime is a caller bug: the store refuses it instead of guessing a zone."""
    with pytest.raises(ValueError, match="naive datetime"):
        store.set_cursor("hubspot", "tickets", "x", datetime(2026, 1, 1))


def test_reads_do_not_wait_for_an_open_write(store: Store, replica: Store, t0: datetime) -> None:
    """While one replica holds a write transaction, another still reads the committed state
    at once (WAL + deferred read transactions on SQLite, MVCC on PostgreSQL)."""
    store.set_cursor("hubspot", "tickets", "committed", t0)
    with store.engine.begin() as writer:
        writer.execute(text("UPDATE cursors SET value = 'uncommitted'"))
        started = time.perf_counter()
        seen = replica.get_cursor("hubspot", "tickets")
        elapsed = time.perf_counter() - started
    assert seen == "committed"
    assert elapsed < 1.0
    assert replica.get_cursor("hubspot", "tickets") == "uncommitted"


@pytest.mark.postgres
def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Replica processes calling migrate() at the same moment on an empty database all succeed
    (an advisory lock makes them take turns) and leave one head revision."""
    script = "import sys; from daemon.store import Store; Store(sys.argv[1]).migrate()"
    replicas = [
        subprocess.Popen([sys.executable, "-c", script, pg_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    failures = []
    for replica in replicas:
        _, stderr = replica.communicate(timeout=60)
        if replica.returncode:
            failures.append(stderr.decode()[-500:])
    store = Store(pg_url)
    with store.engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    store.dispose()
    assert failures == []
    assert revision == [_head()]


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_0002_backfills_the_person_key_and_the_ledger(tmp_path: Path) -> None:
    """A database made by 0001 with a sent survey gets email_norm and ledger rows on upgrade."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
            conn.execute(text(
                "INSERT INTO sends (idem_key, program, survey_type, source, contact_id, email, "
                "created_at, due_at, status, attempts, sent_at) VALUES ('k', 'p', 'csat', "
                "'hubspot', '1', ' Ada@Example.COM', '2026-11-01 00:00:00', "
                "'2026-11-01 00:00:00', 'sent', 1, '2026-11-02 00:00:00')"))
        store.migrate()
        with store.engine.connect() as conn:
            norm = conn.execute(text("SELECT email_norm, kind FROM sends")).one()
            ledger = conn.execute(text("SELECT email_norm, program FROM ledger "
                                       "ORDER BY program")).all()
    finally:
        store.dispose()
    assert tuple(norm) == ("ada@example.com", "survey")
    assert [tuple(r) for r in ledger] == [("ada@example.com", "*"), ("ada@example.com", "p")]
