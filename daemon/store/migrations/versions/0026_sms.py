"""sms_messages and sms_replies: the SMS channel's own facts (daemon/channels/sms.py).

`sms_messages` holds, per SMS survey, the short link's random code (/s/<code>), the Twilio
message SID, the segments it cost and the latest delivery status from Twilio's status
callbacks. `sms_replies` keeps every inbound text once (by its MessageSid: Twilio retries a
webhook), with what it meant: a score, a comment, a stop, or nothing we could read.

Revision ID: 0026
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("send_id", sa.Integer(), sa.ForeignKey(
            "sends.id", name="fk_sms_messages_send_id_sends"), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(8), nullable=False),
        sa.Column("delivery_status", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("send_id", name="pk_sms_messages"),
        sa.UniqueConstraint("code", name="uq_sms_messages_code"),
    )
    op.create_index("ix_sms_messages_sid", "sms_messages", ["sid"])
    op.create_index("ix_sms_messages_phone", "sms_messages", ["phone"])
    op.create_table(
        "sms_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_replies"),
        sa.UniqueConstraint("sid", name="uq_sms_replies_sid"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("sms_replies")
    op.drop_index("ix_sms_messages_phone", table_name="sms_messages")
    op.drop_index("ix_sms_messages_sid", table_name="sms_messages")
    op.drop_table("sms_messages")
