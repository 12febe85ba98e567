"""Report rollups: what was counted per survey (report_facts), the weekly/monthly counts
(report_rollups), the surveys per dashboard scope value (report_scopes); indexes for their
cursors over sends.sent_at and responses' times.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_SCORES = [f"s{i}" for i in range(11)]


def upgrade() -> None:
    op.create_table(
        "report_facts",
        sa.Column("send_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("survey_type", sa.String(8), nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("answer_day", sa.Date(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("dims", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("send_id", name="pk_report_facts"),
    )
    counts = ["sent", "answered", "n", "low", "high", "total", "squares", *_SCORES]
    op.create_table(
        "report_rollups",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("survey_type", sa.String(8), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        sa.PrimaryKeyConstraint("grain", "segment", "period", "survey_type", "value",
                                "program", name="pk_report_rollups"),
    )
    op.create_table(
        "report_scopes",
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("send_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("segment", "value", "send_id", name="pk_report_scopes"),
    )
    op.create_index("ix_report_scopes_send_id", "report_scopes", ["send_id"])
    op.create_index("ix_sends_sent_at", "sends", ["sent_at"])
    op.create_index("ix_responses_updated_at", "responses", ["updated_at"])
    op.create_index("ix_responses_attributed_at", "responses", ["attributed_at"])
    op.create_index("ix_responses_answered_at", "responses", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_responses_answered_at", table_name="responses")
    op.drop_index("ix_responses_attributed_at", table_name="responses")
    op.drop_index("ix_responses_updated_at", table_name="responses")
    op.drop_index("ix_sends_sent_at", table_name="sends")
    op.drop_index("ix_report_scopes_send_id", table_name="report_scopes")
    op.drop_table("report_scopes")
    op.drop_table("report_rollups")
    op.drop_table("report_facts")
    op.execute("DELETE FROM cursors WHERE source = 'report'")
