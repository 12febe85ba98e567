"""Segments: the names an admin slices answers by, and where each one's value is stored.

Built-in segments are columns every send carries (attribution at close time; Zendesk says
brand and group where HubSpot says pipeline and team). Custom segments are contact or ticket
properties named in `[reporting.segments]`, captured when the survey is queued and kept in
`sends.segments` (a JSON object, name -> value), so a later change on the CRM record does not
move old answers between segments. Reports, alerts, dashboard scopes and config validation
all read these tables.
"""

from __future__ import annotations

# Built-in segment name -> the sends column holding its value.
SEGMENT_KEYS: dict[str, str] = {
    "program": "program", "source": "source", "language": "language",
    "pipeline": "pipeline", "brand": "pipeline",
    "team": "team_id", "group": "team_id",
    "owner": "owner_id", "organization": "organization_id",
}

# Built-in segments read from the answer (attribution at rating time), not from the send.
ANSWER_SEGMENT_KEYS: dict[str, str] = {
    "owner_at_answer": "owner_id_at_answer", "team_at_answer": "team_id_at_answer",
    "group_at_answer": "team_id_at_answer",
}

# Where a custom segment's value is read on the CRM: the contact or the ticket.
SEGMENT_OBJECTS = ("contact", "ticket")


def builtin_names() -> tuple[str, ...]:
    return (*SEGMENT_KEYS, *ANSWER_SEGMENT_KEYS)
