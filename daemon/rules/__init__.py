"""Whether a due survey goes out now, later, or never: pure rules, shared by dispatch and plan.

Nothing here reads the store, a CRM or the clock: callers gather the facts (ledger, other
rows, suppressions, reopened tickets) and pass `now`, so `closedloop plan` can replay exactly
what dispatch would decide against a simulated ledger.
"""

from closedloop.daemon.rules.book import ParentState, PersonBook, Sibling
from closedloop.daemon.rules.decision import Action, Decision, Reason
from closedloop.daemon.rules.engine import Due, Facts, decide, due_order
from closedloop.daemon.rules.sampling import sampled_in
from closedloop.daemon.rules.timing import local_zone, next_allowed

__all__ = [
    "Action",
    "Decision",
    "Due",
    "Facts",
    "ParentState",
    "PersonBook",
    "Reason",
    "Sibling",
    "decide",
    "due_order",
    "local_zone",
    "next_allowed",
    "sampled_in",
]
