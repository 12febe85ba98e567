"""Alembic environment: runs on the connection `daemon.store.engine.upgrade_to_head` passes in.

Without one (a developer running ``alembic`` with ``sqlalchemy.url`` set, e.g. to autogenerate a
revision) it opens its own through `make_engine`, so the SQLite pragmas apply there too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from closedloop.daemon.store.engine import make_engine
from closedloop.daemon.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
