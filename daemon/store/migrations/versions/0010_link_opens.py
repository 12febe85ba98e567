"""link_opens: score links fetched, shared by the web processes of several replicas.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "link_opens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_opens")),
    )
    op.create_index("ix_link_opens_send_id_opened_at", "link_opens", ["send_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_link_opens_send_id_opened_at", table_name="link_opens")
    op.drop_table("link_opens")
