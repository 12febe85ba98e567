"""Config checks of the triggers room: what `trigger = "event"` on a program excludes."""

from __future__ import annotations

from collections.abc import Sequence


def event_fed_problem(trigger: str, audience: Sequence[str], filters: Sequence[str]) -> None:
    """Raise ValueError when an event-fed program also names what only the poll or the
    cadence uses (a member list, ticket pipelines or stages): it would be silently unused."""
    if trigger != "event":
        return
    if audience:
        raise ValueError(f'trigger = "event" and {audience[0]} (a member list on a cadence) '
                         "exclude each other: pick one way this program is fed")
    if filters:
        raise ValueError('pipelines and stages filter closed tickets; a trigger = "event" '
                         "program is fed by survey triggers only (remove them)")
