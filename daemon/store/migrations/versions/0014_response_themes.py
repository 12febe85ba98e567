"""response_themes: the comment themes assigned to each response (daemon/insight/themes),
and an index on responses (updated_at, id) for the refresh's cursor.

Revision ID: 0014
Revises: 0010 (the coordinator re-chains it after 0011 at merge time)
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "response_themes",
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("theme", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"], ondelete="CASCADE",
                                name=op.f("fk_response_themes_response_id_responses")),
        sa.PrimaryKeyConstraint("response_id", "theme", name=op.f("pk_response_themes")),
    )
    op.create_index("ix_response_themes_theme_response", "response_themes",
                    ["theme", "response_id"])
    op.create_index("ix_responses_updated_at_id", "responses", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_responses_updated_at_id", table_name="responses")
    op.drop_index("ix_response_themes_theme_response", table_name="response_themes")
    op.drop_table("response_themes")
