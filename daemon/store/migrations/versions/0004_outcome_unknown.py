"""Sends whose outcome is unknown: counted as sent, never resent, shown apart.

Earlier versions marked a send interrupted mid-SMTP as skipped (interrupted_during_send) and
a row left in 'sending' was settled the same way, yet either may have reached the relay.
Both become 'outcome_unknown' (skip_reason keeps where they were interrupted), and their
surveys move the ledger as sent ones do, so the cooldowns hold for those people. The time
they were handed over was never stored: the time they were due stands in for it.

No column changes: 'awaiting_reply' and 'outcome_unknown' are new values of sends.status.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_LEDGER_UPSERT = (
    "INSERT INTO ledger (email_norm, program, last_sent_at, source) "
    "SELECT email_norm, {program}, MAX(sent_at), MIN(source) FROM sends "
    "WHERE status = 'outcome_unknown' AND kind = 'survey' AND email_norm IS NOT NULL "
    "GROUP BY email_norm{group} "
    "ON CONFLICT (email_norm, program) DO UPDATE SET last_sent_at = CASE "
    "WHEN excluded.last_sent_at > ledger.last_sent_at THEN excluded.last_sent_at "
    "ELSE ledger.last_sent_at END"
)


def upgrade() -> None:
    op.execute(
        "UPDATE sends SET status = 'outcome_unknown', "
        "skip_reason = 'interrupted_during_send', claimed_until = NULL, "
        "sent_at = COALESCE(sent_at, due_at) "
        "WHERE status = 'sending' "
        "OR (status = 'skipped' AND skip_reason = 'interrupted_during_send')"
    )
    op.execute(_LEDGER_UPSERT.format(program="program", group=", program"))
    op.execute(_LEDGER_UPSERT.format(program="'*'", group=""))


def downgrade() -> None:
    # The older code knows no outcome_unknown: give it back its own name for these rows.
    op.execute(
        "UPDATE sends SET status = 'skipped', skip_reason = 'interrupted_during_send', "
        "claimed_until = NULL WHERE status IN ('outcome_unknown', 'awaiting_reply')"
    )
