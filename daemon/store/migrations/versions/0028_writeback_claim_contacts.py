"""writebacks: a partial index of the pending rows but hooks, in claim order.

While ticket hooks wait their coalescing window (or their 5-minute settle), the write-back
claims the contacts' rows only (`skip_kinds=("hook",)`). Through `ix_writebacks_claim_order`
each claim walked past every waiting hook of the contacts before its first row: in a
1,000,000-ticket backlog that was ~150,000 index entries (and their table rows) per claim
on average, so write-back CPU per ticket grew with the backlog (0.11 ms at 100 k, 0.37 at
1 M). This index holds only the rows such a claim can take.

Revision ID: 0028
Revises: 0029
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0029"
branch_labels: str | None = None
depends_on: str | None = None

UNHOOKED = "status = 'pending' AND kind <> 'hook'"  # as tables.py: word for word


def upgrade() -> None:
    op.create_index("ix_writebacks_claim_contacts", "writebacks",
                    ["source", "status", "contact_id", "created_at", "id"],
                    sqlite_where=sa.text(UNHOOKED), postgresql_where=sa.text(UNHOOKED))


def downgrade() -> None:
    op.drop_index("ix_writebacks_claim_contacts", table_name="writebacks")
