"""widget_dismissals: "Not now" in the web widget, per site and person, until a time.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "widget_dismissals",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("email_norm", sa.String(320), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "email_norm", name="pk_widget_dismissals"),
    )


def downgrade() -> None:
    op.drop_table("widget_dismissals")
