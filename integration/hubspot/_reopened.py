"""Which surveyed tickets are no longer closed: tickets batch read, 100 ids per call.

Dispatch asks right before sending. A ticket counts as reopened when its stage is not a
CLOSED stage of its pipeline; one the batch read does not return (archived, i.e. deleted,
or never existed: HubSpot answers 207 OBJECT_NOT_FOUND) counts as gone. The decision uses
the stage only, not closed_date, so it holds however HubSpot treats closed_date on reopen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

TICKET_BATCH: Final = 100
STAGE_PROPERTIES: Final = ["hs_pipeline", "hs_pipeline_stage"]

CallFn = Callable[..., Any]  # HubSpotAdapter._call_json: (endpoint, body, query) -> JSON
Stage = tuple[str, str]  # (pipeline id, stage id)
StageStates = Mapping[Stage, str]  # -> ticketState ("OPEN" / "CLOSED")


def ticket_stages(call: CallFn, ids: Sequence[str]) -> dict[str, Stage]:
    """(pipeline, stage) of each live ticket; deleted or unknown ids are absent."""
    return {i: stage_of(props) for i, props in ticket_props(call, ids, STAGE_PROPERTIES).items()}


def ticket_props(call: CallFn, ids: Sequence[str],
                 properties: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`properties` of each live ticket (tickets batch read, 100 ids a call)."""
    unique = list(dict.fromkeys(str(i) for i in ids))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(unique), TICKET_BATCH):
        body = {"inputs": [{"id": i} for i in unique[start:start + TICKET_BATCH]],
                "properties": list(properties)}
        answer = call("tickets_read", body, "archived=false")
        for row in answer.get("results") or []:
            out[str(row["id"])] = row.get("properties") or {}
    return out


def stage_of(props: Mapping[str, Any]) -> Stage:
    return (str(props.get("hs_pipeline") or ""), str(props.get("hs_pipeline_stage") or ""))


def not_closed(ids: Sequence[str], stages: Mapping[str, Stage],
               states: StageStates) -> set[str]:
    """The ids whose ticket is gone or sits in a stage that is not CLOSED in its pipeline."""
    return {str(i) for i in ids
            if str(i) not in stages or states.get(stages[str(i)]) != "CLOSED"}


def unknown_stages(stages: Mapping[str, Stage], states: StageStates) -> bool:
    """True when a ticket sits in a stage the cached pipelines do not list (pipeline edited)."""
    return any(stage not in states for stage in stages.values())
