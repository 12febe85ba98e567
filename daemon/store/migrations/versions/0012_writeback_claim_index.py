"""writebacks.claim_token index: renewing and releasing a claim found its rows by a scan.

The write-back renews its lease before every CRM call and releases it after each round,
both `WHERE claim_token = :token`; without an index each was a scan of every write-back
row, so a backlog of 190,000 answers cost more CPU than the CRM's rate limit allowed.

Revision ID: 0012_pace
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision: str = "0012_pace"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_writebacks_claim_token", "writebacks", ["claim_token"])


def downgrade() -> None:
    op.drop_index("ix_writebacks_claim_token", table_name="writebacks")
