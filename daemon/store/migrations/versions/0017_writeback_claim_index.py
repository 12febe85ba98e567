"""writebacks: index the claim token, the claim order and the claimed rows.

The write-back renews its lease before every CRM call and releases it after each round
(`WHERE claim_token = :token`), and claims each round's rows `ORDER BY contact_id,
created_at, id` among contacts nobody holds (rows with a live claim token). Without these
indexes each was a scan (and a sort) of every write-back row, so a backlog of 190,000
answers cost more CPU than the CRM's rate limit allowed.

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision: str = "0017"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_writebacks_claim_token", "writebacks", ["claim_token"])
    op.create_index("ix_writebacks_claim_order", "writebacks",
                    ["source", "status", "contact_id", "created_at", "id"])
    op.create_index("ix_writebacks_claimed", "writebacks", ["source", "status", "claim_token"])


def downgrade() -> None:
    op.drop_index("ix_writebacks_claimed", table_name="writebacks")
    op.drop_index("ix_writebacks_claim_order", table_name="writebacks")
    op.drop_index("ix_writebacks_claim_token", table_name="writebacks")
