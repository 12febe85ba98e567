"""The closed-tickets cursor: where the incremental ticket export resumes.

Stored as a small JSON string with a version, like the HubSpot cursor:
- {"v": 1, "start": 1714550400} before Zendesk has handed out a cursor (first run, or
  every page so far was empty): the next poll starts the export at that unix time;
- {"v": 1, "cursor": "MTU4MDc1Mzc5OC4wfHw0MzJ8"}: Zendesk's opaque `after_cursor` of the
  last page whose tickets were yielded; the next poll resumes right after that page.
Zendesk hides changes of the last minute from the export and hands them out later, so a
resumed cursor needs no overlap of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from closedloop.integration.errors import ConfigError

_VERSION = 1


@dataclass(frozen=True)
class ExportCursor:
    """Either a start time (unix seconds) or a Zendesk export cursor, never both."""

    start: int | None = None
    cursor: str | None = None

    def __post_init__(self) -> None:
        if (self.start is None) == (self.cursor is None):
            raise ValueError("an export cursor has either a start time or a cursor")

    @classmethod
    def loads(cls, text: str) -> ExportCursor:
        """Parse a stored cursor; a damaged one is a configuration problem, not a retry."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("v") != _VERSION:
                raise ValueError(f"unknown cursor version {data.get('v')!r}")
            if data.get("cursor") is not None:
                value = data["cursor"]
                if not isinstance(value, str) or not value:
                    raise ValueError("cursor is not a non-empty string")
                return cls(cursor=value)
            return cls(start=int(data["start"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError([f"zendesk: stored ticket cursor is not valid ({exc})"]) from exc

    def dumps(self) -> str:
        body: dict[str, object] = {"v": _VERSION}
        if self.cursor is not None:
            body["cursor"] = self.cursor
        else:
            body["start"] = self.start
        return json.dumps(body, separators=(",", ":"), sort_keys=True)
