"""Client-side pacing of CRM requests: one `Pacer` per source (see pacer.py, windows.py)."""

from closedloop.integration.pacing.pacer import (
    Answer,
    Pacer,
    PacingStats,
    Reader,
    Throttled,
    Ticket,
)
from closedloop.integration.pacing.windows import DayBudget, Observation, Sent, Window, allowed

__all__ = ["Answer", "DayBudget", "Observation", "Pacer", "PacingStats", "Reader", "Sent",
           "Throttled", "Ticket", "Window", "allowed"]
