"""What the rules know about the people in a batch: when each was last surveyed, and their rows.

Dispatch loads it from the store for one claimed batch and updates it as it sends, so two rows
for one person in the same batch see each other; `closedloop plan` loads it the same way and
then plays the coming days on it, so its ledger is simulated and the store is never touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
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
class Flight:
    """A survey on its way in another dispatcher ('sending', or awaiting the relay's reply).

    It counts as sent at `at` (its hand-over, or before it its lease's end) until `ends`,
    its lease's end, by which its outcome is known: sent, swept as outcome unknown (counted
    as sent), handed back, or failed. Past `ends` it counts as sent: the safer outcome.

    `claim`: a row only claimed by another dispatcher, not begun (or one it is claiming:
    store/ledger.py). It may never be sent, so it counts only while its lease runs (then
    the store says what became of it), as something to wait for. `turn`, its due turn
    (daemon.rules.due_order): it counts only for the rows after it, as one dispatcher
    deciding in due order would (None: for every row; the widget's card, read before no
    claim, is after all of them)."""

    key: str
    program: str
    at: datetime
    ends: datetime
    claim: bool = False
    turn: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class ParentState:
    """A reminder's survey: whether it went out, and whether the person answered it."""

    sent_at: datetime | None
    answered: bool


class PersonBook:
    """Per person (normalized e-mail): last-sent times per program and "*", survey rows, and
    the surveys in flight elsewhere (counted as sent; `settled` leaves them out)."""

    def __init__(self, ledger: Mapping[tuple[str, str], datetime],
                 rows: Iterable[tuple[str, Sibling]] = (),
                 flights: Iterable[tuple[str, Flight]] = ()) -> None:
        self._ledger: dict[tuple[str, str], datetime] = dict(ledger)
        self._rows: dict[str, dict[str, Sibling]] = defaultdict(dict)
        self._flights: dict[str, list[Flight]] = defaultdict(list)
        for person, row in rows:
            self.add(person, row)
        for person, flight in flights:
            self._flights[person].append(flight)

    def last_sent(self, person: str, program: str) -> datetime | None:
        """When `person` last got a survey of `program` ("*": of any program), or None; a
        survey in flight counts as sent."""
        last = self._ledger.get((person, program))
        for flight in self._flights.get(person, ()):
            if program in (flight.program, ANY_PROGRAM) and (last is None or flight.at > last):
                last = flight.at
        return last

    def at_turn(self, person: str, turn: tuple[datetime, str], now: datetime) -> PersonBook:
        """The book a row at `turn` is decided on: another dispatcher's claimed rows count
        only while their lease runs, and those with a turn only if it comes before."""
        if not any(f.claim for f in self._flights.get(person, ())):
            return self
        return self._only(person, lambda f: not f.claim or (
            f.ends > now and (f.turn is None or f.turn < turn)))

    def unresolved(self, person: str, now: datetime) -> datetime | None:
        """The earliest end of the person's flights whose outcome is still unknown at `now`."""
        return min((f.ends for f in self._flights.get(person, ()) if f.ends > now), default=None)

    def settled(self, person: str, now: datetime) -> PersonBook:
        """This person as if every survey still in flight at `now` failed: what the rules
        would say if none of them reaches the person (a flight past its end stays counted)."""
        return self._only(person, lambda f: f.ends <= now, drop_rows=True)

    def _only(self, person: str, keep: Callable[[Flight], bool],
              drop_rows: bool = False) -> PersonBook:
        """A book of this person alone with the flights `keep` says (with `drop_rows`, the
        rows of the others go too)."""
        flights = self._flights.get(person, [])
        gone = {f.key for f in flights if not keep(f)} if drop_rows else set()
        return PersonBook(
            {k: v for k, v in self._ledger.items() if k[0] == person},
            [(person, r) for r in self._rows.get(person, {}).values() if r.key not in gone],
            [(person, f) for f in flights if keep(f)])

    def siblings(self, person: str, program: str, key: str) -> list[Sibling]:
        """The person's live rows of `program`, other than the row `key` itself."""
        return [row for row in self._rows.get(person, {}).values()
                if row.program == program and row.key != key and row.status in LIVE]

    def add(self, person: str, row: Sibling) -> None:
        self._rows[person][row.key] = row

    def record_sent(self, person: str, program: str, key: str, at: datetime) -> None:
        """A survey left: both ledger rows move (to `at` if later), and the row counts as
        sent for coalescing."""
        for name in (program, ANY_PROGRAM):
            previous = self._ledger.get((person, name))
            self._ledger[(person, name)] = at if previous is None else max(previous, at)
        self.set_status(person, key, "sent")

    def set_status(self, person: str, key: str, status: str) -> None:
        row = self._rows.get(person, {}).get(key)
        if row is not None:
            self._rows[person][key] = replace(row, status=status)
