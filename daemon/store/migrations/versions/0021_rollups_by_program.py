"""report_rollups keyed (grain, segment, program, survey_type, period, value), with rows
summed across each survey type's programs (program ""): a report of every program of a type
reads one contiguous key range, one row per cell, and groups nothing. The table is
recreated empty and the rollups' state cleared: the next refresh rebuilds them.

Revision ID: 0021
Revises: 0027
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0027"
branch_labels: str | None = None
depends_on: str | None = None

_COUNTS = ["sent", "answered", "n", "low", "high", "total", "squares",
           *(f"s{i}" for i in range(11))]


def _create(*key: str) -> None:
    op.create_table(
        "report_rollups",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("survey_type", sa.String(8), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.PrimaryKeyConstraint(*key, name="pk_report_rollups"),
        sqlite_with_rowid=False,
    )


def _reset() -> None:
    op.drop_table("report_rollups")
    op.execute("DELETE FROM report_facts")
    op.execute("DELETE FROM report_scopes")
    op.execute("DELETE FROM cursors WHERE source = 'report'")


def upgrade() -> None:
    _reset()
    _create("grain", "segment", "program", "survey_type", "period", "value")


def downgrade() -> None:
    _reset()
    _create("grain", "segment", "period", "survey_type", "value", "program")
