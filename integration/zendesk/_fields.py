"""Creating ClosedLoop's user fields, idempotently.

Zendesk has no property groups: every field is a user field keyed by `key`. The existing
fields are listed first (paged); only the missing ones are created, and a 422 whose
message says the key is taken (another replica won the race) counts as existing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Final

import structlog
from zenpy.lib.api_objects import UserField

from closedloop.integration.base import PropertySpec
from closedloop.integration.errors import ConfigError, RecordRejected
from closedloop.integration.zendesk._paging import CallFn, pages

log = structlog.get_logger(__name__)

FIELD_TYPES: Final = frozenset({"text", "textarea", "integer", "decimal", "date", "checkbox",
                                "dropdown", "regexp"})
_SHORT_LABELS: Final = {"csat": "CSAT", "ces": "CES", "nps": "NPS"}


def option_label(value: str) -> str:
    """A readable option name from its stored value ("detractor" -> "Detractor")."""
    return _SHORT_LABELS.get(value, value.replace("_", " ").capitalize())


def field_type(spec: PropertySpec) -> str:
    """The Zendesk type of a spec (`field_type`, else `type`), checked before any call."""
    for candidate in (spec.field_type, spec.type):
        if candidate in FIELD_TYPES:
            return candidate
    raise ConfigError([f"user field {spec.name!r}: type {spec.field_type or spec.type!r} is not "
                       f"a Zendesk user field type ({', '.join(sorted(FIELD_TYPES))})"])


def existing_fields(call: CallFn, user_fields_api: Any) -> dict[str, dict[str, Any]]:
    """Every user field by key (all pages)."""
    found: dict[str, dict[str, Any]] = {}
    for page in pages(call, "user_fields", user_fields_api):
        for item in page:
            raw = item.to_dict()
            if raw.get("key"):
                found[str(raw["key"])] = raw
    return found


# Ticket attributes a segment may name instead of a custom field id (scalar values in the
# ticket JSON the export returns).
STANDARD_TICKET_FIELDS: Final = frozenset({
    "priority", "type", "status", "brand_id", "group_id", "organization_id", "assignee_id",
    "ticket_form_id", "custom_status_id", "problem_id", "recipient", "is_public",
})


def ticket_field_ids(call: CallFn, ticket_fields_api: Any) -> set[str]:
    """The ids of every ticket field, as text (all pages)."""
    return {str(item.to_dict().get("id")) for page in pages(call, "ticket_fields",
                                                            ticket_fields_api)
            for item in page}


def _taken(exc: RecordRejected) -> bool:
    text = str(exc).lower()
    return exc.status == 422 and ("taken" in text or "already" in text or "exist" in text)


def ensure(call: CallFn, user_fields_api: Any, specs: Sequence[PropertySpec], *,
           source: str) -> list[str]:
    """Create the missing user fields; return the keys created by this call."""
    types = {spec.name: field_type(spec) for spec in specs}  # bad mapping: fail before writing
    existing = existing_fields(call, user_fields_api)
    created: list[str] = []
    for spec in specs:
        if spec.name in existing:
            continue
        body = UserField(key=spec.name, title=spec.label, type=types[spec.name],
                         description=spec.description or None)
        if types[spec.name] == "dropdown":
            if not spec.options:
                raise ConfigError([f"user field {spec.name!r}: a dropdown needs options"])
            body.custom_field_options = [{"name": option_label(v), "value": v}
                                         for v in spec.options]
        try:
            call("user_field_create", partial(user_fields_api.create, body))
        except RecordRejected as exc:
            if not _taken(exc):
                raise
            continue
        created.append(spec.name)
    log.info("zendesk.setup.fields", source=source, created=len(created),
             existing=len(specs) - len(created))
    return created
