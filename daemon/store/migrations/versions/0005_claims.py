"""Replicas: write-back claims and job locks.

- writebacks.claim_token / claimed_until: a writer's lease on a contact's rows, so two
  replicas never write the same rows (or one an older value over the other's newer one).
- job_locks: one leased row per job and source (poll, cadence), so one replica polls a
  source at a time; a killed holder frees it when the lease runs out.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("writebacks", sa.Column("claim_token", sa.String(length=36), nullable=True))
    op.add_column("writebacks", sa.Column("claimed_until", _TS, nullable=True))
    op.create_index("ix_writebacks_source_contact", "writebacks", ["source", "contact_id"])
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("locked_until", _TS, nullable=False),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )


def downgrade() -> None:
    op.drop_table("job_locks")
    op.drop_index("ix_writebacks_source_contact", table_name="writebacks")
    with op.batch_alter_table("writebacks") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claim_token")
