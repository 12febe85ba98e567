"""Attribution at rating time: who held the ticket when the answer was written back.

- responses.owner_id_at_answer / team_id_at_answer: the ticket's owner (HubSpot) or
  assignee (Zendesk) and team/group, read when the answer is first written back, beside
  the ones at close time (sends.owner_id / team_id).
- responses.attributed_at: when they were read (NULL: not yet), so a retried write-back
  never reads them again, and "nobody" (NULL owner) stays distinct from "not read".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("responses",
                  sa.Column("owner_id_at_answer", sa.String(length=64), nullable=True))
    op.add_column("responses",
                  sa.Column("team_id_at_answer", sa.String(length=64), nullable=True))
    op.add_column("responses",
                  sa.Column("attributed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite drops columns by copying the table: keep its AUTOINCREMENT (ids leave the system)
    with op.batch_alter_table("responses",
                              table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("attributed_at")
        batch.drop_column("team_id_at_answer")
        batch.drop_column("owner_id_at_answer")
