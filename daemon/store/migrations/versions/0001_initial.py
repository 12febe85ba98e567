"""Initial schema: cursors, sends (outbox), responses, writebacks, suppressions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "name", name=op.f("pk_cursors")),
    )
    op.create_table(
        "sends",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idem_key", sa.String(length=255), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("survey_type", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("pipeline", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sends")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_sends_idem_key")),
    )
    op.create_index("ix_sends_source_contact", "sends", ["source", "contact_id"])
    op.create_index("ix_sends_status_due_at", "sends", ["status", "due_at"])
    op.create_table(
        "suppressions",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("until", _TS, nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("answered_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name=op.f("fk_responses_send_id_sends")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
        sa.UniqueConstraint("send_id", name=op.f("uq_responses_send_id")),
    )
    op.create_table(
        "writebacks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("written_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["send_id"], ["sends.id"], name=op.f("fk_writebacks_send_id_sends")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_writebacks")),
    )
    op.create_index("ix_writebacks_status_source", "writebacks", ["status", "source"])


def downgrade() -> None:
    op.drop_index("ix_writebacks_status_source", table_name="writebacks")
    op.drop_table("writebacks")
    op.drop_table("responses")
    op.drop_table("suppressions")
    op.drop_index("ix_sends_status_due_at", table_name="sends")
    op.drop_index("ix_sends_source_contact", table_name="sends")
    op.drop_table("sends")
    op.drop_table("cursors")
