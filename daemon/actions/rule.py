"""Which answers become follow-up work, and what the follow-up says: pure, no I/O.

A program's `[programs.follow_up]` names categories and/or a score range (either matches),
and whether a comment must be there or not. The subject and body carry the score, the
comment, the survey and a link to the ticket; the deadline is counted in business hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from closedloop.daemon.rules.business_hours import BusinessHours, business_deadline

COMMENT_MAX = 2000  # characters of the customer's comment quoted in a follow-up


@dataclass(frozen=True)
class FollowUpRule:
    """One program's follow-up settings, as the job needs them."""

    program: str
    categories: frozenset[str]
    scores: tuple[int, int] | None
    comment: str  # any | with | without
    deadline: timedelta
    calendar: BusinessHours
    zone: str
    owner: str | None = None
    group: str | None = None
    use_configured: bool = False
    tags: tuple[str, ...] = ("closedloop_follow_up",)
    notify_customer: bool = False
    ticket_url: str | None = None  # "{ticket_id}" template

    def link(self, ticket_id: str) -> str | None:
        return self.ticket_url.replace("{ticket_id}", ticket_id) if self.ticket_url else None

    def wants(self, score: int, category: str, comment: str | None) -> bool:
        """True when this answer calls for follow-up work."""
        has_comment = bool(comment and comment.strip())
        if self.comment == "with" and not has_comment:
            return False
        if self.comment == "without" and has_comment:
            return False
        in_range = self.scores is not None and self.scores[0] <= score <= self.scores[1]
        return in_range or category in self.categories

    def due_at(self, answered_at: datetime) -> datetime:
        return business_deadline(answered_at, self.deadline, self.calendar, ZoneInfo(self.zone))


@dataclass(frozen=True)
class Answer:
    """What a follow-up quotes: the survey, the score, the comment, the ticket."""

    program: str
    survey_type: str
    score: int
    category: str
    comment: str | None
    ticket_id: str | None
    ticket_subject: str | None
    ticket_url: str | None
    answered_at: datetime


def subject_of(answer: Answer) -> str:
    about = f" on ticket #{answer.ticket_id}" if answer.ticket_id else ""
    return (f"Follow up: {answer.survey_type.upper()} {answer.score} ({answer.category})"
            f"{about}")


def body_of(answer: Answer) -> str:
    """Plain text; adapters escape it for their CRM."""
    lines = [f"{answer.survey_type.upper()} answer {answer.score} ({answer.category}) "
             f"in survey program {answer.program!r}, "
             f"answered {answer.answered_at:%Y-%m-%d %H:%M} UTC."]
    comment = (answer.comment or "").strip()
    if comment:
        if len(comment) > COMMENT_MAX:
            comment = comment[:COMMENT_MAX] + "…"
        lines.append(f"Comment: {comment}")
    else:
        lines.append("No comment.")
    if answer.ticket_id:
        subject = f" ({answer.ticket_subject})" if answer.ticket_subject else ""
        lines.append(f"Ticket #{answer.ticket_id}{subject}"
                     + (f": {answer.ticket_url}" if answer.ticket_url else ""))
    return "\n".join(lines)


def rescore_text(answer: Answer) -> str:
    """What a re-score or a comment adds to an existing follow-up."""
    comment = (answer.comment or "").strip()
    said = f" Comment: {comment[:COMMENT_MAX]}" if comment else ""
    return (f"Update: the answer is now {answer.survey_type.upper()} {answer.score} "
            f"({answer.category}).{said}")
