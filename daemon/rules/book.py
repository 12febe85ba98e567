"""What the rules know about the people in a batch: when each was last surveyed, and their rows.

Dispatch loads it from the store for one claimed batch and updates it as it sends, so two rows
for one person in the same batch see each other; `closedloop plan` loads it the same way and
then plays the coming days on it, so its ledger is simulated and the store is never touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

ANY_PROGRAM = "*"  # the ledger row that a global cooldown reads (as in the store)
LIVE = frozenset({"pending", "claimed", "sending", "sent"})  # rows that may still mail, or did


@dataclass(frozen=True)
class Sibling:
    """Another survey row of the same person: enough to decide coalescing."""

    key: str  # the row's idempotency key (unique)
    program: str
    closed_at: datetime | None
    status: str  # pending, claimed, sending, sent (skipped and failed rows no longer count)


@dataclass(frozen=True)
class ParentState:
    """A reminder's survey: whether it went out, and whether the person answered it."""

    sent_at: datetime | None
    answered: bool


class PersonBook:
    """Per person (normalized e-mail): last-sent times per program and "*", and survey rows."""

    def __init__(self, ledger: Mapping[tuple[str, str], datetime],
                 rows: Iterable[tuple[str, Sibling]] = ()) -> None:
        self._ledger: dict[tuple[str, str], datetime] = dict(ledger)
        self._rows: dict[str, dict[str, Sibling]] = defaultdict(dict)
        for person, row in rows:
            self.add(person, row)

    def last_sent(self, person: str, program: str) -> datetime | None:
        """When `person` last got a survey of `program` ("*": of any program), or None."""
        return self._ledger.get((person, program))

    def siblings(self, person: str, program: str, key: str) -> list[Sibling]:
        """The person's live rows of `program`, other than the row `key` itself."""
        return [row for row in self._rows.get(person, {}).values()
                if row.program == program and row.key != key and row.status in LIVE]

    def add(self, person: str, row: Sibling) -> None:
        self._rows[person][row.key] = row

    def record_sent(self, person: str, program: str, key: str, at: datetime) -> None:
        """A survey left: both ledger rows move, and the row counts as sent for coalescing."""
        self.count_sent(person, program, at)
        self.set_status(person, key, "sent")

    def count_sent(self, person: str, program: str, at: datetime) -> None:
        """Move the person's last-sent times (this program and "*") to `at` if later: a
        survey sent, or one on its way that the ledger does not know yet."""
        for name in (program, ANY_PROGRAM):
            previous = self._ledger.get((person, name))
            self._ledger[(person, name)] = at if previous is None else max(previous, at)

    def set_status(self, person: str, key: str, status: str) -> None:
        row = self._rows.get(person, {}).get(key)
        if row is not None:
            self._rows[person][key] = replace(row, status=status)
