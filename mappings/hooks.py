"""Workflow hooks: what an answer does to the ticket the survey was about.

Zendesk triggers run on ticket changes, never on user-field writes, so a tag on the
originating ticket is how an answer reaches them ("tags contain closedloop_csat_bad").
HubSpot tickets have no tags; there the hook is a private note on the ticket. Tags are only
ever added: a CSAT re-scored from bad to good adds the "good" tag and leaves the "bad" one
(a trigger already fired on it), so build triggers on "tags contain", not on the tag set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from closedloop.daemon.surveys import CATEGORIES, SCALES, SurveyType, category
from closedloop.integration.base import TicketUpdate

TAG = re.compile(r"^[a-z0-9][a-z0-9_:./-]{0,79}$")  # Zendesk tags: no spaces, lower-case


@dataclass(frozen=True)
class Hooks:
    """The validated [hooks] table: a tag per (survey type, category), and/or a private note."""

    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # type -> cat -> tag
    note: bool = False

    @property
    def enabled(self) -> bool:
        return self.note or any(self.tags.values())

    def ticket_update(self, ticket_id: str, data: Mapping[str, Any]) -> TicketUpdate | None:
        """The hook for one answer (write-back data of kind 'hook'); None when nothing applies.

        Raises ValueError for data no hook can describe (an unknown survey type or a score
        off the scale): a bug upstream, like `CrmMapping.render`.
        """
        survey = SurveyType(str(data.get("survey_type")))
        score = int(data["score"])
        bucket = str(data.get("category") or category(survey, score))
        tag = self.tags.get(survey.value, {}).get(bucket)
        note = answer_note(survey, score, bucket, data) if self.note else None
        if tag is None and note is None:
            return None
        return TicketUpdate(ticket_id=ticket_id, add_tags=(tag,) if tag else (), note=note)


def answer_note(survey: SurveyType, score: int, bucket: str, data: Mapping[str, Any]) -> str:
    """The private note's text: for agents, so English and plain; the comment is quoted whole."""
    scale = SCALES[survey]
    lines = [f"ClosedLoop: {survey.value.upper()} answer {score}/{scale.high} ({bucket}), "
             f"program {data.get('program') or '?'}."]
    comment = str(data.get("comment") or "").strip()
    lines.append(f"Comment: {comment}" if comment else "No comment.")
    return "\n".join(lines)


def parse_hooks(raw: Any, where: str) -> tuple[Hooks, list[str]]:
    """Validate a [hooks] table; every problem is one line naming the key."""
    if raw is None:
        return Hooks(), []
    if not isinstance(raw, dict):
        return Hooks(), [f"{where}: expected a table"]
    problems: list[str] = []
    note = raw.get("note", False)
    if not isinstance(note, bool):
        problems.append(f"{where}.note: expected true or false, got {note!r}")
        note = False
    for key in sorted(set(raw) - {"note", "tags"}):
        problems.append(f"{where}.{key}: unknown key; expected note or tags")
    tags: dict[str, dict[str, str]] = {}
    table = raw.get("tags", {})
    if not isinstance(table, dict):
        problems.append(f"{where}.tags: expected a table of survey types")
        table = {}
    for survey, per_category in table.items():
        here = f"{where}.tags.{survey}"
        if survey not in {t.value for t in SurveyType}:
            problems.append(f"{here}: {survey!r} is not a survey type; expected one of "
                            f"{', '.join(t.value for t in SurveyType)}")
            continue
        if not isinstance(per_category, dict):
            problems.append(f"{here}: expected a table of category = \"tag\"")
            continue
        allowed = CATEGORIES[SurveyType(survey)]
        for bucket, tag in per_category.items():
            if bucket not in allowed:
                problems.append(f"{here}.{bucket}: {bucket!r} is not a {survey} category; "
                                f"expected one of {', '.join(allowed)}")
            elif not isinstance(tag, str) or not TAG.match(tag):
                problems.append(f"{here}.{bucket}: expected a tag such as "
                                f"\"closedloop_{survey}_{bucket}\" (lower-case, no spaces, max "
                                f"80), got {tag!r}")
            else:
                tags.setdefault(survey, {})[bucket] = tag
    return Hooks(tags=tags, note=note), problems
