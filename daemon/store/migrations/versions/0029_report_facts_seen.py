"""report_facts.seen: the survey's columns each fact was computed from, as text, so the
rollups' scheduled refresh re-reads only the surveys in its margins that changed since they
were counted (NULL: compared in full at the next refresh, as before).

Revision ID: 0029
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0021"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("report_facts", sa.Column("seen", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_facts") as batch:
        batch.drop_column("seen")
