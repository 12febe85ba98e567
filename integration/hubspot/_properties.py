"""Creating ClosedLoop's property groups and properties (contacts, tickets), idempotently.

Per object type, one GET lists every property; only the missing ones are created, and a 409
("already exists", e.g. another replica won the race) counts as existing, so a second run
makes exactly one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate

from closedloop.integration.base import PropertySpec
from closedloop.integration.errors import RecordRejected

log = structlog.get_logger(__name__)

CallFn = Callable[..., Any]  # HubSpotAdapter._call
_SHORT_LABELS = {"csat": "CSAT", "ces": "CES", "nps": "NPS"}


def option_label(value: str) -> str:
    """A readable option label from its stored value ("detractor" -> "Detractor")."""
    return _SHORT_LABELS.get(value, value.replace("_", " ").capitalize())


_SINGULAR = {"contacts": "contact", "tickets": "ticket"}  # endpoint names per object type


def _all_properties(call: CallFn, core_api: Any, object_type: str) -> list[Any]:
    answer = call(f"{_SINGULAR[object_type]}_properties", core_api.get_all,
                  object_type=object_type)
    return list(answer.results or [])


def existing_names(call: CallFn, core_api: Any, object_type: str = "contacts") -> set[str]:
    return {str(p.name) for p in _all_properties(call, core_api, object_type)}


def _exists(exc: RecordRejected) -> bool:
    return exc.status == 409


def ensure(call: CallFn, core_api: Any, groups_api: Any, *, group: str, group_label: str,
           specs: Sequence[PropertySpec], source: str) -> list[str]:
    """Create the group (when a property must go in it) and the missing properties, per
    object type the specs name (contacts first, then tickets)."""
    created: list[str] = []
    for object_type in _SINGULAR:
        wanted = [s for s in specs if s.object_type == object_type]
        if wanted:
            created += _ensure_object(call, core_api, groups_api, object_type, group=group,
                                      group_label=group_label, specs=wanted, source=source)
    return created


def _ensure_object(call: CallFn, core_api: Any, groups_api: Any, object_type: str, *,
                   group: str, group_label: str, specs: Sequence[PropertySpec],
                   source: str) -> list[str]:
    one = _SINGULAR[object_type]
    existing = _all_properties(call, core_api, object_type)
    names = {str(p.name) for p in existing}
    missing = [s for s in specs if s.name not in names]
    if not missing:
        return []
    if not any(getattr(p, "group_name", None) == group for p in existing):
        try:
            call(f"{one}_group_create", groups_api.create, object_type=object_type,
                 property_group_create=PropertyGroupCreate(name=group, label=group_label,
                                                           display_order=-1))
            log.info("hubspot.setup.group_created", source=source, group=group)
        except RecordRejected as exc:
            if not _exists(exc):
                raise
    created: list[str] = []
    for spec in missing:
        options = [OptionInput(label=option_label(v), value=v, display_order=i, hidden=False)
                   for i, v in enumerate(spec.options)]
        body = PropertyCreate(name=spec.name, label=spec.label, group_name=group,
                              type=spec.type, field_type=spec.field_type,
                              description=spec.description, options=options or None)
        try:
            call(f"{one}_property_create", core_api.create, object_type=object_type,
                 property_create=body)
        except RecordRejected as exc:
            if not _exists(exc):
                raise
            continue
        created.append(spec.name)
    log.info("hubspot.setup.properties", source=source, object_type=object_type,
             created=len(created),
             existing=len(specs) - len(missing))
    return created
