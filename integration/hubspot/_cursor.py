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
    _overlap_ms: int | None = field(default=None, repr=False, compare=False)

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
        self._prune()
        return json.dumps({"v": _VERSION, "wm": self.watermark_ms, "recent": self.recent},
                          separators=(",", ":"), sort_keys=True)

    def yielded(self, ticket_id: str, closed_ms: int) -> bool:
        """True for this very closing; a ticket reopened and closed again is new."""
        return self.recent.get(ticket_id) == closed_ms

    def advance(self, ticket_id: str, closed_ms: int, overlap_ms: int) -> None:
        """Record one yielded ticket; the ones that fell out of the overlap are forgotten
        when the cursor is stored (or when twice the cap has piled up), not at every
        ticket: pruning per ticket sorted 2,000 entries for each ticket of a dense backlog.
        Between two prunings `yielded` may still know a ticket past the overlap: the same
        closing, rightly skipped."""
        self.watermark_ms = max(self.watermark_ms, closed_ms)
        self.recent[ticket_id] = closed_ms
        self._overlap_ms = overlap_ms
        if len(self.recent) > 2 * _MAX_RECENT:
            self._prune()

    def _prune(self) -> None:
        """Keep the ids within the overlap of the watermark, at most _MAX_RECENT, newest."""
        if self._overlap_ms is None:
            return
        horizon = self.watermark_ms - self._overlap_ms
        oldest = min(self.recent.values(), default=horizon)
        if len(self.recent) <= _MAX_RECENT and oldest >= horizon:
            return
        kept = sorted(((ms, tid) for tid, ms in self.recent.items() if ms >= horizon),
                      reverse=True)[:_MAX_RECENT]
        self.recent = {tid: ms for ms, tid in kept}
