"""admin_users, admin_sessions, admin_login_failures: the dashboard's sign-in.

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_admin_users")),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_admin_sessions")),
    )
    op.create_index("ix_admin_sessions_user_name", "admin_sessions", ["user_name"])
    op.create_table(
        "admin_login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("failed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_login_failures")),
    )
    op.create_index("ix_admin_login_failures_key_failed_at", "admin_login_failures",
                    ["key", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_admin_login_failures_key_failed_at", table_name="admin_login_failures")
    op.drop_table("admin_login_failures")
    op.drop_index("ix_admin_sessions_user_name", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("admin_users")
