"""Programs that respect the customer: reminders, the per-person ledger, NPS members, segments.

- sends.email_norm: the normalized address, so fatigue rules and `forget` find a person across
  sources and CRMs; backfilled from `email`.
- sends.kind / parent_id / reminder_no: a reminder is a row of its own (its own idempotency key,
  its own at-most-once send) that points at the survey it reminds of (same token).
- sends.timezone / organization_id: quiet hours in the contact's zone; a reporting segment.
- ledger: when each person was last surveyed, per program and across all ("*"); written in the
  same transaction as the send, backfilled from the sends already made.
- members: when each NPS list member was first seen, so new members join the next cycle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("sends", sa.Column("email_norm", sa.String(length=320), nullable=True))
    op.add_column("sends", sa.Column("kind", sa.String(length=16), nullable=False,
                                     server_default="survey"))
    op.add_column("sends", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("sends", sa.Column("reminder_no", sa.Integer(), nullable=False,
                                     server_default="0"))
    op.add_column("sends", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column("sends", sa.Column("organization_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE sends SET email_norm = lower(trim(email)) WHERE email IS NOT NULL")
    op.create_index("ix_sends_email_norm_status", "sends", ["email_norm", "status"])
    op.create_index("ix_sends_parent_id", "sends", ["parent_id"])
    op.create_table(
        "ledger",
        sa.Column("email_norm", sa.String(length=320), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("last_sent_at", _TS, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("email_norm", "program", name=op.f("pk_ledger")),
    )
    op.execute(
        "INSERT INTO ledger (email_norm, program, last_sent_at, source) "
        "SELECT email_norm, program, MAX(sent_at), MIN(source) FROM sends "
        "WHERE status = 'sent' AND email_norm IS NOT NULL GROUP BY email_norm, program"
    )
    op.execute(
        "INSERT INTO ledger (email_norm, program, last_sent_at, source) "
        "SELECT email_norm, '*', MAX(sent_at), MIN(source) FROM sends "
        "WHERE status = 'sent' AND email_norm IS NOT NULL GROUP BY email_norm"
    )
    op.create_table(
        "members",
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("email_norm", sa.String(length=320), nullable=True),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("customer_since", _TS, nullable=True),
        sa.PrimaryKeyConstraint("program", "source", "contact_id", name=op.f("pk_members")),
    )


def downgrade() -> None:
    op.drop_table("members")
    op.drop_table("ledger")
    op.drop_index("ix_sends_parent_id", table_name="sends")
    op.drop_index("ix_sends_email_norm_status", table_name="sends")
    for column in ("organization_id", "timezone", "reminder_no", "parent_id", "kind",
                   "email_norm"):
        op.drop_column("sends", column)
