"""Operations: source health, and ids that leave the system are never reused.

- source_health: each CRM source's last known state (ok, failing, paused after the CRM
  refused its token), shared by replicas and read by `closedloop status` and /readyz.
- responses, writebacks on SQLite: AUTOINCREMENT, so an id freed by `forget` is never
  handed to a new answer (response ids leave the system in exports and webhooks). SQLite
  cannot add it in place: batch mode rebuilds the two tables (nothing references them).
  PostgreSQL serial/identity columns never reuse an id: nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_REBUILT = ("responses", "writebacks")


def upgrade() -> None:
    op.create_table(
        "source_health",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("since", _TS, nullable=False),
        sa.Column("next_check_at", _TS, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_health")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for table in _REBUILT:
            with op.batch_alter_table(table, recreate="always",
                                      table_kwargs={"sqlite_autoincrement": True}):
                pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _REBUILT:
            with op.batch_alter_table(table, recreate="always",
                                      table_kwargs={"sqlite_autoincrement": False}):
                pass
    op.drop_table("source_health")
