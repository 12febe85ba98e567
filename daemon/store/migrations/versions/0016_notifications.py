"""hook_events and notified_tickets: CRM change notifications (signed inbound webhooks) are
accepted once per event id and queue their tickets for the intake job.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
# The task named 0011; this branch already has 0015 on top of it (one head is required to
# migrate). The coordinator re-chains the revisions at merge time.
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hook_events",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_hook_events")),
    )
    op.create_index("ix_hook_events_expires_at", "hook_events", ["expires_at"])
    op.create_table(
        "notified_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("notified_at", _TS, nullable=False),
        sa.Column("next_at", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notified_tickets")),
        sa.UniqueConstraint("source", "ticket_id", name="uq_notified_tickets_source_ticket"),
    )
    op.create_index("ix_notified_tickets_source_status_next", "notified_tickets",
                    ["source", "status", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_notified_tickets_source_status_next", table_name="notified_tickets")
    op.drop_table("notified_tickets")
    op.drop_index("ix_hook_events_expires_at", table_name="hook_events")
    op.drop_table("hook_events")
