"""sends.segments: custom segment values (contact/ticket properties) captured at queue time.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("sends", sa.Column("segments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("segments")
