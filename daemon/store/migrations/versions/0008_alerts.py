"""Alerts: the delivery queue and the breach state of rolling rules.

- alert_deliveries: one row per alert to deliver (leased claims, backoff, dead rows);
- alert_state: per rule and segment, whether the rule is in breach (fires once, recovers).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idem_key", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("segment", sa.String(length=255), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_alert_deliveries_idem_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_deliveries_status_next", "alert_deliveries",
                    ["status", "next_attempt_at"])
    op.create_index("ix_alert_deliveries_rule_created", "alert_deliveries",
                    ["rule", "created_at"])
    op.create_index("ix_alert_deliveries_send_id", "alert_deliveries", ["send_id"])
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=255), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("since", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("rule", "segment", name=op.f("pk_alert_state")),
    )


def downgrade() -> None:
    op.drop_table("alert_state")
    op.drop_table("alert_deliveries")
