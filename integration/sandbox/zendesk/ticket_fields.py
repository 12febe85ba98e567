"""Ticket fields: the system ones every account has, and custom ones such as a "Store".

`GET /api/v2/ticket_fields.json` lists them; a ticket shows every custom field's value in
`custom_fields` (and its alias `fields`) as `[{"id": 360001234, "value": "oslo"}]`, null
when unset. A dropdown ("tagger") field's value is its option's `value`, not its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .values import iso, now

FIRST_SYSTEM_ID: Final = 360_000_001
# (type, title) of the system fields, in Zendesk's order.
SYSTEM_FIELDS: Final = (
    ("subject", "Subject"), ("description", "Description"), ("status", "Status"),
    ("tickettype", "Type"), ("priority", "Priority"), ("group", "Group"),
    ("assignee", "Assignee"),
)


def _field(fid: int, base: str, kind: str, title: str, position: int, *,
           removable: bool) -> dict[str, Any]:
    stamp = iso(now())
    return {
        "id": fid, "url": f"{base}/api/v2/ticket_fields/{fid}.json", "type": kind,
        "title": title, "raw_title": title, "description": "", "raw_description": "",
        "position": position, "active": True, "required": False,
        "collapsed_for_agents": False, "regexp_for_validation": None,
        "title_in_portal": title, "raw_title_in_portal": title, "visible_in_portal": True,
        "editable_in_portal": False, "required_in_portal": False, "tag": None,
        "created_at": stamp, "updated_at": stamp, "removable": removable, "key": None,
        "agent_description": None,
    }


class TicketFields:
    """The account's ticket-field definitions, by id, in position order."""

    def __init__(self, base: str) -> None:
        self.defs: dict[int, dict[str, Any]] = {
            FIRST_SYSTEM_ID + i: _field(FIRST_SYSTEM_ID + i, base, kind, title, i + 1,
                                        removable=False)
            for i, (kind, title) in enumerate(SYSTEM_FIELDS)}

    def create(self, fid: int, base: str, title: str,
               options: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """A custom field: a dropdown ("tagger") when `options` (value, name) are given."""
        field = _field(fid, base, "tagger" if options else "text", title,
                       len(self.defs) + 1, removable=True)
        if options:
            field["custom_field_options"] = [
                {"id": fid * 100 + i, "name": name, "raw_name": name, "value": value,
                 "default": False} for i, (value, name) in enumerate(options)]
        self.defs[fid] = field
        return dict(field)

    def custom_ids(self) -> list[int]:
        return [fid for fid, f in self.defs.items() if f["removable"]]

    def checked(self, values: Mapping[int, Any]) -> dict[int, Any]:
        """Custom values to set on a ticket; ValueError for an unknown field or option."""
        out: dict[int, Any] = {}
        for fid, value in values.items():
            field = self.defs.get(int(fid))
            if field is None or not field["removable"]:
                raise ValueError(f"no custom ticket field {fid}")
            options = {o["value"] for o in field.get("custom_field_options", [])}
            if value is not None and options and value not in options:
                raise ValueError(f"{value!r} is not an option of ticket field {fid}")
            out[int(fid)] = value
        return out

    def listing(self) -> list[dict[str, Any]]:
        return [dict(f) for f in self.defs.values()]
