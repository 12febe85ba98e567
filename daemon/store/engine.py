"""Engines for the state store, and the schema migrations that run in code.

SQLite is the zero-set-up default: one file, WAL so the web app can read while the daemon
writes, and every transaction opened with ``BEGIN IMMEDIATE`` so a read-then-write (claiming
due sends) cannot be interleaved by another process. PostgreSQL is for several replicas.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from closedloop.integration.errors import ConfigError

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Any constant works; it only has to be the same for every replica that migrates.
_MIGRATION_LOCK_ID = 0x0C105ED1
_READ_ONLY = "closedloop_read_only"
_ALEMBIC_LOCK = threading.Lock()


def parse_url(url: str) -> URL:
    """Validate a store URL and pin the driver; raise ConfigError (one line) if unusable.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` because psycopg 3
    is the driver we install; psycopg2 is not a dependency.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError([f"store.url: not a database URL: {_redacted(url)!r}"]) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in {"postgresql", "postgres"}:
        if driver not in {"", "psycopg"}:
            raise ConfigError([f"store.url: PostgreSQL driver {driver!r} is not supported; "
                               "use postgresql:// (psycopg 3)"])
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in {"", "pysqlite"}:
            raise ConfigError([f"store.url: SQLite driver {driver!r} is not supported"])
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError(["store.url: an in-memory SQLite database cannot be shared by the "
                               "daemon's connections; give a file, e.g. sqlite:///closedloop.db"])
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigError([f"store.url: folder {str(folder)!r} does not exist"])
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigError([f"store.url: unsupported database {backend!r}; "
                       "use sqlite:///path/to/file.db or postgresql://user@host/db"])


def make_engine(url: str) -> Engine:
    """Build the engine for `url` with the connection settings the store relies on."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so "begin" below decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes fails with SQLITE_BUSY (busy_timeout does not help) if another writer got in.
    # Pure reads stay deferred, so under WAL they never wait for a writer.
    # Sent on the driver's connection: through exec_driver_sql the BEGIN was a whole
    # SQLAlchemy execution, a sixth of the CPU of a one-statement transaction; a failure
    # still reaches callers as SQLAlchemy's error (OperationalError: database is locked).
    sql = "BEGIN" if conn.get_execution_options().get(_READ_ONLY, False) else "BEGIN IMMEDIATE"
    driver = conn.connection.driver_connection
    assert driver is not None  # a checked-out connection
    try:
        driver.execute(sql)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: on SQLite it does not take the write lock."""
    with engine.connect() as conn:
        conn.execution_options(**{_READ_ONLY: True})
        with conn.begin():
            yield conn


def read_only(conn: Connection) -> Connection:
    """Mark a held connection as `reading` does: on SQLite its transactions BEGIN deferred."""
    return conn.execution_options(**{_READ_ONLY: True})


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config built in code (no alembic.ini): migrations ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", parse_url(url).render_as_string(False))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    On PostgreSQL a transaction-scoped advisory lock makes replicas that start together
    migrate one after the other instead of racing to create the same tables.
    """
    # Alembic keeps the running migration in a module-global proxy: one at a time per process.
    with _ALEMBIC_LOCK, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_ID})
        config = alembic_config(conn)
        _refuse_unknown_revision(conn, ScriptDirectory.from_config(config))
        command.upgrade(config, "head")
    log.info("store.migrated", dialect=engine.dialect.name)


class NewerDatabase(ConfigError):
    """The database was migrated by a newer ClosedLoop: refuse it in one line (exit 2)."""


def _refuse_unknown_revision(conn: Connection, scripts: ScriptDirectory) -> None:
    """Say which schema revision the database has and which this program knows, instead of
    Alembic's "Can't locate revision" traceback (a database from a newer version)."""
    current = MigrationContext.configure(conn).get_current_heads()
    known = {script.revision for script in scripts.walk_revisions()}
    unknown = sorted(rev for rev in current if rev not in known)
    if unknown:
        head = scripts.get_current_head()
        raise NewerDatabase([
            f"the state database has schema revision {', '.join(unknown)}, which this "
            f"ClosedLoop does not know (it knows up to {head}): the database was written by "
            "a newer version; run that version, or point daemon.state_url at another database"])


def _redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{tail}"
