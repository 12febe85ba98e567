"""The closed-tickets cursor: a watermark plus the tickets already yielded near it.

Stored as a small JSON string, e.g. {"v": 1, "wm": 1714550400000, "recent": {"11": 1714550400000}}:
- `wm` is the largest closed_date (epoch ms) yielded so far;
- `recent` maps the ids yielded within `overlap` of `wm` to their closed_date.
A resumed poll searches from `wm - overlap` (HubSpot's search index can show a ticket a
little late, with a closed_date before the watermark) and skips the ids in `recent`, so it
re-reads the overlap but yields only tickets it has not yielded before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from closedloop.integration.errors import ConfigError

_VERSION = 1
_MAX_RECENT = 2000  # bounds the cursor's size when a burst of tickets closes in one overlap


@dataclass
class SearchCursor:
    """Mutable while a poll runs; `dumps()` after each page gives the string to persist."""

    watermark_ms: int
    recent: dict[str, int] = field(default_factory=dict)

    @classmethod
    def loads(cls, text: str) -> SearchCursor:
        """Parse a stored cursor; a damaged one is a configuration problem, not a retry."""
        try:
            data = json.loads(text)
            if data.get("v") != _VERSION:
                raise ValueError(f"unknown cursor version {data.get('v')!r}")
            recent = {str(k): int(v) for k, v in dict(data.get("recent", {})).items()}
            return cls(watermark_ms=int(data["wm"]), recent=recent)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError([f"hubspot: stored ticket cursor is not valid ({exc})"]) from exc

    def dumps(self) -> str:
        return json.dumps({"v": _VERSION, "wm": self.watermark_ms, "recent": self.recent},
                          separators=(",", ":"), sort_keys=True)

    def yielded(self, ticket_id: str, closed_ms: int) -> bool:
        """True for this very closing; a ticket reopened and closed again is new."""
        return self.recent.get(ticket_id) == closed_ms

    def advance(self, ticket_id: str, closed_ms: int, overlap_ms: int) -> None:
        """Record one yielded ticket and forget the ones that fell out of the overlap."""
        self.watermark_ms = max(self.watermark_ms, closed_ms)
        self.recent[ticket_id] = closed_ms
        horizon = self.watermark_ms - overlap_ms
        if min(self.recent.values()) < horizon or len(self.recent) > _MAX_RECENT:
            kept = sorted(((ms, tid) for tid, ms in self.recent.items() if ms >= horizon),
                          reverse=True)[:_MAX_RECENT]
            self.recent = {tid: ms for ms, tid in kept}
