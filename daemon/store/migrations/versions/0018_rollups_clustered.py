"""report_rollups clustered on its key (SQLite WITHOUT ROWID): a report reads its rows in
key order with their counts, without a lookup per row. The table is recreated empty and
the rollups' state cleared: the next refresh rebuilds them (their format changed too:
rows per scope value).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None

_COUNTS = ["sent", "answered", "n", "low", "high", "total", "squares",
           *(f"s{i}" for i in range(11))]


def _create(with_rowid: bool) -> None:
    op.create_table(
        "report_rollups",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("survey_type", sa.String(8), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.PrimaryKeyConstraint("grain", "segment", "period", "survey_type", "value",
                                "program", name="pk_report_rollups"),
        sqlite_with_rowid=with_rowid,
    )


def _reset() -> None:
    op.drop_table("report_rollups")
    op.execute("DELETE FROM report_facts")
    op.execute("DELETE FROM report_scopes")
    op.execute("DELETE FROM cursors WHERE source = 'report'")


def upgrade() -> None:
    _reset()
    _create(with_rowid=False)


def downgrade() -> None:
    _reset()
    _create(with_rowid=True)
