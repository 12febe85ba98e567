"""CRM field values as segment text: one rule for both adapters.

Reports slice answers by the text a contact or ticket property held when the survey was
queued (`Ticket.properties`, `Contact.properties`). HubSpot already answers strings;
Zendesk answers JSON values of whatever type the field has. The rules, and why:

- missing, null, "" or blanks: no value (the key is left out, not kept as ""), so an
  unset field never becomes a segment of its own;
- booleans (Zendesk checkbox): "true" / "false", the strings HubSpot's checkbox
  properties hold, so one segment reads the same on either CRM;
- numbers (Zendesk integer/decimal): their plain decimal text, 3.0 as "3"; NaN and
  infinities are no value;
- lists (Zendesk multi-select): the distinct values sorted and joined with ";", the
  way HubSpot stores a multiple-checkbox property (order of ticking is not meaningful);
- objects, and text longer than MAX_TEXT characters: no value. A segment is a category;
  a structure or a paragraph (a textarea field) is not one, and free text may quote the
  person, which a report must not keep.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

MAX_TEXT: Final = 200


def as_text(value: object) -> str | None:
    """A field value as segment text, or None when it is no value (see the module doc)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, list | tuple):
        text = ";".join(sorted({t for t in (_scalar_text(v) for v in value) if t is not None}))
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None  # null, an object
    return text if text and len(text) <= MAX_TEXT else None


def _number(value: float) -> str | None:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return None
    return str(int(value)) if value.is_integer() else repr(value)


def _scalar_text(value: object) -> str | None:
    return None if isinstance(value, list | tuple | dict) else as_text(value)


def picked(values: Mapping[str, object], names: Iterable[str]) -> dict[str, str]:
    """Of `names`, those with a value in `values`, as text (no value: left out)."""
    out = {}
    for name in names:
        text = as_text(values.get(name))
        if text is not None:
            out[name] = text
    return out
