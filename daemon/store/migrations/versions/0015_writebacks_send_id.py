"""writebacks(send_id): the answer path's UPDATE of a pending hook row, `forget` and the
attribution join find their rows by send without scanning every pending write-back.

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_writebacks_send_id", "writebacks", ["send_id"])


def downgrade() -> None:
    op.drop_index("ix_writebacks_send_id", table_name="writebacks")
