"""sends.channel, phone, trigger, reference: surveys from any event and any channel.

`channel` is how the survey reaches the person ("email", "sms", "web"); `phone` the E.164
number an SMS goes to; `trigger` what queued it (NULL: the CRM poll or a list cadence, as
before; otherwise e.g. "hubspot_workflow", "zendesk_trigger", "generic", "manual", "csv",
"widget"); `reference` what it is about when that is not a ticket ("deal:123",
"order:A-17").

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False,
                                   server_default="email"))
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
        batch.add_column(sa.Column("trigger", sa.String(32), nullable=True))
        batch.add_column(sa.Column("reference", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        for name in ("reference", "trigger", "phone", "channel"):
            batch.drop_column(name)
