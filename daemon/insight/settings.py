"""`[reporting]`: the reporting time zone, custom segments and the dashboard's scope levels.

A custom segment is a contact or ticket property (`"contact.region"`, `"ticket.store"`;
per source when the CRMs name it differently: `{hubspot = "ticket.store", zendesk =
"ticket.360001234"}`), captured on the send when the survey is queued. `scope` lists the
segment levels that scope dashboard users, top-down (e.g. `["region", "store"]`): a user
scoped to `store = "oslo"` sees only answers whose send carries that store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from closedloop.daemon.insight.segments import SEGMENT_OBJECTS, builtin_names
from closedloop.daemon.zones import TimeZone

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SOURCE = re.compile(r"^(contact|ticket)\.[A-Za-z0-9_.:-]{1,100}$")
# Properties that name or reach a person (HubSpot and Zendesk spellings): never a segment,
# so what `forget` keeps on a scrubbed send (its segments) cannot identify anyone.
IDENTIFYING = frozenset({
    "email", "hs_additional_emails", "firstname", "lastname", "name", "phone",
    "mobilephone", "hs_whatsapp_phone_number", "address", "zip", "fax", "external_id",
    "requester_id", "submitter_id", "subject", "description", "content",
})


def _segment_name(value: object) -> object:
    if isinstance(value, str):
        if not _NAME.match(value):
            raise ValueError(f"a segment name is lower-case letters, digits and '_' "
                             f"(max 40), starting with a letter; got {value!r}")
        if value in builtin_names():
            raise ValueError(f"{value!r} is a built-in segment; pick another name")
    return value


def _where(value: object) -> object:
    """"contact.PROP" or "ticket.PROP", or a table of them per source name."""
    values = value.values() if isinstance(value, dict) else [value]
    for item in values:
        if not isinstance(item, str) or not _SOURCE.match(item):
            raise ValueError(f"expected \"contact.PROPERTY\" or \"ticket.PROPERTY\" (the "
                             f"object is one of {', '.join(SEGMENT_OBJECTS)}), or a table of "
                             f"them per source; got {item!r}")
        if item.partition(".")[2].lower() in IDENTIFYING:
            raise ValueError(f"{item!r} names or reaches a person; a segment is a business "
                             f"attribute (a region, a store, a plan), kept after `forget`")
    return value


SegmentName = Annotated[str, BeforeValidator(_segment_name)]
SegmentWhere = Annotated[str | dict[str, str], BeforeValidator(_where)]


class SegmentSource(BaseModel):
    """Where one custom segment's value is read for one source."""

    model_config = ConfigDict(frozen=True)
    object: str  # contact | ticket
    property: str


class ReportingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZone = "UTC"  # periods (day, week, ...) are cut in this zone
    small_sample: int = Field(default=30, ge=1)  # fewer answers than this: flagged
    segments: dict[SegmentName, SegmentWhere] = {}
    scope: tuple[str, ...] = ()  # segment levels that scope dashboard users, top-down

    @model_validator(mode="after")
    def _levels(self) -> ReportingSettings:
        known = set(builtin_names()) | set(self.segments)
        for level in self.scope:
            if level not in known:
                raise ValueError(f"scope level {level!r} is not a segment; declare it in "
                                 f"[reporting.segments] or use one of: "
                                 f"{', '.join(builtin_names())}")
        if len(set(self.scope)) != len(self.scope):
            raise ValueError("scope lists a level twice")
        return self

    def source_for(self, segment: str, source: str) -> SegmentSource | None:
        """Where `segment` is read on `source` (None: that source has no such property)."""
        where = self.segments[segment]
        if isinstance(where, dict):
            if source not in where:
                return None
            where = where[source]
        obj, _, prop = where.partition(".")
        return SegmentSource(object=obj, property=prop)

    def properties(self, source: str, obj: str) -> dict[str, str]:
        """Segment name -> property name to read on `obj` ("contact"/"ticket") of `source`."""
        found = {}
        for name in self.segments:
            where = self.source_for(name, source)
            if where is not None and where.object == obj:
                found[name] = where.property
        return found


def reporting_references(data: Mapping[str, Any]) -> list[str]:
    """A per-source segment must name configured sources (a typo would capture nothing)."""
    reporting, sources = data.get("reporting"), data.get("sources")
    if not isinstance(reporting, dict) or not isinstance(sources, dict):
        return []
    segments = reporting.get("segments")
    problems = []
    for name, where in (segments.items() if isinstance(segments, dict) else []):
        for source in (where if isinstance(where, dict) else {}):
            if source not in sources:
                problems.append(f"reporting.segments.{name}: {source!r} is not a configured "
                                f"source; expected one of: {', '.join(sorted(sources))}")
    return problems
