"""theme_rollups and theme_facts: comment themes counted per week/month, scope key, program,
survey type and theme, kept by the themes refresh (daemon/insight/themes/rollups.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "theme_facts",
        sa.Column("response_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("survey_type", sa.String(length=8), nullable=False),
        sa.Column("low", sa.Boolean(), nullable=False),
        sa.Column("themes", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_theme_facts")),
    )
    op.create_index(op.f("ix_theme_facts_send_id"), "theme_facts", ["send_id"])
    op.create_table(
        "theme_rollups",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("survey_type", sa.String(length=8), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("theme", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("low", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "scope", "period", "survey_type", "program", "theme",
                                name=op.f("pk_theme_rollups")),
    )


def downgrade() -> None:
    op.drop_table("theme_rollups")
    op.drop_index(op.f("ix_theme_facts_send_id"), table_name="theme_facts")
    op.drop_table("theme_facts")
