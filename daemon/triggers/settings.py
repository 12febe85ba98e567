"""Settings of the triggers room: `[triggers]`, and what `trigger = "event"` on a program
excludes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class TriggerSettings(BaseModel):
    """`[triggers]`: the Standard Webhooks route for systems other than the CRMs.

    The CRMs' own routes are per source (`[sources.X] triggers = true`, signed with the
    source's webhook_secret_env); `generic = true` opens `POST /hooks/generic`, signed per
    the Standard Webhooks spec with the `whsec_...` secret in generic_secret_env.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    generic: bool = False
    generic_secret_env: str = Field(default="CLOSEDLOOP_GENERIC_WEBHOOK_SECRET",
                                    pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


def trigger_references(data: Mapping[str, Any]) -> list[str]:
    """A source may not be named "generic" while the generic route is on (one URL, two
    meanings)."""
    section = data.get("triggers")
    sources = data.get("sources")
    if isinstance(section, Mapping) and section.get("generic") is True \
            and isinstance(sources, Mapping) and "generic" in sources:
        return ["sources.generic: the name is taken by POST /hooks/generic ([triggers] "
                "generic = true); rename the source"]
    return []
