"""Manual and bulk sends (`closedloop send`): people named on the command line or in a CSV
file, each put through the one intake (`queue_trigger`) and the one rule engine, stored in
one outbox batch per `BATCH_ROWS` rows.

Per person, in this order (the first that applies is the outcome):

- rejected: a malformed row (bad address, unknown language or time zone, wrong number of
  values; daemon/triggers/people_csv) or a value the intake refuses (a segment too long);
- skipped `duplicate`: the same address earlier in this file (one survey per person);
- skipped `already_queued`: the key is in the outbox (this batch ran before, or the poll
  queued this ticket);
- skipped `contact_not_found`: the program's CRM has no contact with this address. A survey's
  answer is written back onto a CRM contact, so nobody is created: add the person to the
  CRM first, then run the same file again;
- skipped with the intake's reason (`no_email`, `expired`, `sampled_out`), or with the rule
  engine's, decided now for the time the row comes due against the fatigue ledger and the
  suppressions (`suppressed`, `program_cooldown`, `global_cooldown`, `coalesced`): stored
  skipped, so `status` counts it and a rerun does not ask again;
- queued: stored pending; dispatch decides again when it is due (quiet hours defer it then).

The key of a CSV row is `<program>:<source>:csv:<batch>:<address digest>`: the batch (the
file's name unless `--batch` names it) and the person, not the line or the file's content,
so the corrected file run again queues just the rows that were fixed, and the same list
sent again later needs a new `--batch`. The address is hashed (SHA-256, 16 hex digits):
keys outlive `forget`, addresses must not. A manual send without `--batch` takes the
intake's key (program, contact, ticket, UTC day); with a ticket of a ticket-fed program, the
poll's key, so the poll and the manual send make one survey together.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, cast

from closedloop.daemon.insight.capture import NO_SEGMENTS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.logging import get_logger
from closedloop.daemon.rules import Action, Due, Facts, decide
from closedloop.daemon.store import NewSend, SendRecord, Store, normalize_email
from closedloop.daemon.store.people_batch import latest_sends_by_email
from closedloop.daemon.surveys import Policy, Program
from closedloop.daemon.triggers.errors import TriggerError, UnknownPerson
from closedloop.daemon.triggers.intake import Trigger, TriggerKind, queue_triggers, trigger_key
from closedloop.daemon.triggers.people import Person
from closedloop.daemon.triggers.people_csv import PersonRow, RowError
from closedloop.integration.base import CRMAdapter

BATCH_ROWS: Final = 500  # rows per outbox write (and CRM look-up, split as the CRM needs)
BATCH_NAME: Final = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
DUPLICATE, ALREADY_QUEUED, NOT_FOUND = "duplicate", "already_queued", "contact_not_found"

log = get_logger(component="send")


@dataclass(frozen=True)
class Outcome:
    """What became of one person: queued, skipped (reason) or rejected (problem)."""

    line: int  # the CSV line; 0 for `send --email`
    email: str | None
    status: str  # "queued", "skipped" or "rejected"
    reason: str | None = None  # skipped: a stable code; rejected: the problem in words
    detail: str | None = None  # e.g. "line 3" for a duplicate, "quiet_hours" for a queued row
    due_at: datetime | None = None


@dataclass
class SendSummary:
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "queued":
            self.queued += 1
        elif outcome.status == "skipped":
            self.skipped[outcome.reason or "?"] += 1
        else:
            self.rejected += 1

    def text(self, *, plan: bool) -> str:
        """One line: `queued 3, skipped 2 (suppressed 1, program_cooldown 1), rejected 1`."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        skipped = sum(self.skipped.values())
        words = ("would queue", "would skip") if plan else ("queued", "skipped")
        return (f"{words[0]} {self.queued}, {words[1]} {skipped}"
                + (f" ({reasons})" if reasons else "") + f", rejected {self.rejected}"
                + (" (plan: nothing was written)" if plan else ""))


@dataclass(frozen=True)
class SendRequest:
    """What `closedloop send` was asked: which program, how keyed, dry or not."""

    program: Program
    kind: TriggerKind  # "manual" or "csv"
    batch: str | None = None  # None: the intake's own key (manual sends only)
    ticket_id: str | None = None
    reference: str | None = None
    plan: bool = False


def batch_name(text: str) -> str:
    """A batch id from free text (a file name): unsafe characters become '-', 40 at most."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:40]
    return name or "batch"


def address_digest(email: str) -> str:
    """The person part of a batch key: 64 bits of SHA-256 of the normalized address."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:16]


def send_people(store: Store, adapters: Mapping[str, CRMAdapter], programs: Sequence[Program],
                policy: Policy, request: SendRequest, rows: Iterable[PersonRow | RowError],
                now: datetime, report: Callable[[Outcome], None], *,
                reporting: ReportingSettings = NO_SEGMENTS,
                batch_rows: int = BATCH_ROWS) -> SendSummary:
    """Put each row through the intake and the rules, `batch_rows` at a time; call `report`
    with each outcome in file order; with `request.plan`, write nothing.

    Memory: one batch of rows, plus about 24 bytes a person for the duplicate check. CRM errors
    (integration.errors) pass through: the batches before are stored, and the same command
    run again goes on where it stopped (their keys are known)."""
    summary = SendSummary()
    seen = SeenAddresses()
    for chunk in _chunks(iter(rows), batch_rows):
        outcomes = _Batch(store, adapters, programs, policy, request, now, reporting,
                          seen).run(chunk)
        for outcome in outcomes:
            summary.add(outcome)
            report(outcome)
    log.info("send.done", program=request.program.name, trigger=request.kind,
             plan=request.plan, queued=summary.queued, rejected=summary.rejected,
             **{f"skipped_{k}": v for k, v in sorted(summary.skipped.items())})
    return summary


class SeenAddresses:
    """The addresses a file had so far (as 64-bit digests) and each one's first line.

    Open addressing over two flat arrays, at most half full: about 24 bytes a person where a
    dict of ints takes about 100, so a file's duplicate check stays small (a million rows:
    about 24 MB). 0 marks an empty slot (a digest of 0 is stored as 1).
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._lines = array("L", bytes(array("L").itemsize * capacity))
        self._used = 0

    def first_line(self, digest: int, line: int) -> int:
        """The line `digest` was first seen on; `line` (recorded) when it is new."""
        digest = digest or 1
        slot = self._slot(digest)
        if self._keys[slot] == digest:
            return int(self._lines[slot])
        self._keys[slot], self._lines[slot] = digest, line
        self._used += 1
        if 2 * self._used > len(self._keys):
            self._grow()
        return line

    def _slot(self, digest: int) -> int:
        mask = len(self._keys) - 1
        slot = digest & mask
        while self._keys[slot] not in (0, digest):
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        self._keys = array("Q", bytes(16 * len(keys)))
        self._lines = array("L", bytes(2 * lines.itemsize * len(lines)))
        for digest, line in zip(keys, lines, strict=True):
            if digest:
                slot = self._slot(digest)
                self._keys[slot], self._lines[slot] = digest, line


def _chunks(rows: Iterator[PersonRow | RowError], size: int
            ) -> Iterator[list[PersonRow | RowError]]:
    chunk: list[PersonRow | RowError] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class _Candidate:
    index: int
    row: PersonRow
    trigger: Trigger
    key: str | None  # None: the intake keys it once the contact is known


class _Batch:
    """One batch: checks, one key look-up, one CRM look-up, the rules, one write."""

    def __init__(self, store: Store, adapters: Mapping[str, CRMAdapter],
                 programs: Sequence[Program], policy: Policy, request: SendRequest,
                 now: datetime, reporting: ReportingSettings, seen: SeenAddresses) -> None:
        self.store, self.adapters, self.programs = store, adapters, programs
        self.policy, self.request, self.now = policy, request, now
        self.reporting, self.seen = reporting, seen
        self.outcomes: dict[int, Outcome] = {}

    def run(self, chunk: list[PersonRow | RowError]) -> list[Outcome]:
        candidates = self._candidates(chunk)
        known = self.store.existing_idem_keys([c.key for c in candidates if c.key])
        fresh = []
        for c in candidates:
            if c.key in known:
                self._done(c, "skipped", ALREADY_QUEUED)
            else:
                fresh.append(c)
        rows = self._intake(fresh)
        self._rules(rows)
        if not self.request.plan:
            self._store([row for _, row in rows])
        return [self.outcomes[i] for i in sorted(self.outcomes)]

    def _candidates(self, chunk: list[PersonRow | RowError]) -> list[_Candidate]:
        request, program = self.request, self.request.program
        out = []
        for index, row in enumerate(chunk):
            if isinstance(row, RowError):
                self.outcomes[index] = Outcome(row.line, None, "rejected", row.problem)
                continue
            digest = address_digest(row.email)
            first = self.seen.first_line(int(digest, 16), row.line)
            if first != row.line:
                self.outcomes[index] = Outcome(row.line, row.email, "skipped", DUPLICATE,
                                               f"line {first}")
                continue
            trigger = Trigger(
                program=program.name, kind=request.kind, ticket_id=request.ticket_id,
                reference=request.reference,
                event_id=f"{request.batch}:{digest}" if request.batch else None,
                person=Person(email=row.email, name=row.name, language=row.language,
                              timezone=row.timezone, segments=row.segments))
            out.append(_Candidate(index, row, trigger,
                                  trigger_key(program, trigger, None, self.now)))
        return out

    def _intake(self, fresh: list[_Candidate]) -> list[tuple[_Candidate, NewSend]]:
        """The intake's row for each (a dry run: this batch stores them together); its
        person and key reads answered by the batch's queries (see _Prefetched)."""
        store = cast(Store, _Prefetched(self.store, self.request.program.source,
                                        [c.row.email for c in fresh],
                                        {c.key for c in fresh if c.key}))
        answers = queue_triggers(store, self.adapters, self.programs,
                                 [c.trigger for c in fresh], self.now,
                                 reporting=self.reporting, dry_run=True)
        rows = []
        for c, answer in zip(fresh, answers, strict=True):
            if isinstance(answer, UnknownPerson):
                self._done(c, "skipped", NOT_FOUND)
            elif isinstance(answer, TriggerError):
                self._done(c, "rejected", answer.detail)
            elif answer.status == "duplicate" or answer.row is None:
                self._done(c, "skipped", ALREADY_QUEUED)
            else:
                rows.append((c, answer.row))
        return rows

    def _rules(self, rows: list[tuple[_Candidate, NewSend]]) -> None:
        """The rule engine's word on each row, at the time it comes due (as dispatch will
        decide it, with the ledger as it stands); a skip is stored as one, but not one that
        rests on a mail whose outcome is unknown now (decide's `known`): that row is queued
        and dispatch decides it when due."""
        program = self.request.program
        people = [normalize_email(r.email) for _, r in rows if r.email]
        book = self.store.person_book(people) if people else None
        suppressions = self.store.suppressions_of(people) if people else {}
        for i, (c, row) in enumerate(rows):
            if row.skip_reason or book is None:
                self._done(c, "skipped", row.skip_reason or "no_email", due_at=row.due_at)
                continue
            due = Due.of(row)
            at = max(self.now, row.due_at)
            facts = Facts(suppressed=_suppressed(due.person, at, suppressions))
            decision = decide(due, program, self.policy, at, book, facts, known=self.now)
            if decision.action is Action.SKIP:
                reason = str(decision.reason)
                rows[i] = (c, replace(row, status="skipped", skip_reason=reason))
                self._done(c, "skipped", reason, due_at=row.due_at)
            else:
                note = str(decision.reason) if decision.reason else None
                self._done(c, "queued", None, note, due_at=decision.until or row.due_at)

    def _store(self, rows: list[NewSend]) -> None:
        pending = [r for r in rows if r.status == "pending"]
        skipped = [r for r in rows if r.status != "pending"]
        inserted = self.store.add_sends(pending) + self.store.add_sends(skipped)
        if inserted < len(rows):  # another run of the same batch won some keys meanwhile
            log.warning("send.raced", program=self.request.program.name,
                        offered=len(rows), inserted=inserted)

    def _done(self, c: _Candidate, status: str, reason: str | None, detail: str | None = None,
              due_at: datetime | None = None) -> None:
        self.outcomes[c.index] = Outcome(c.row.line, c.row.email, status, reason, detail,
                                         due_at)


def _suppressed(person: str | None, at: datetime,
                suppressions: Mapping[str, datetime | None]) -> bool:
    """Suppressed at `at`: for good, or snoozed beyond it (a snooze may end before)."""
    if person is None or person not in suppressions:
        return False
    until = suppressions[person]
    return until is None or until > at


class _Prefetched:
    """The store, its per-person reads of the intake answered from two batch queries.

    `send_by_key` for a key this batch just found absent answers None (the write at the end
    of the batch still ignores a key a concurrent run took meanwhile); `latest_send_of` by
    address answers from one query for the batch's addresses. Everything else is the store.
    """

    def __init__(self, store: Store, source: str, emails: Sequence[str],
                 absent_keys: set[str]) -> None:
        self._store, self._source, self._absent = store, source, absent_keys
        self._latest = latest_sends_by_email(store.engine, source, emails) if emails else {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def send_by_key(self, idem_key: str) -> SendRecord | None:
        return None if idem_key in self._absent else self._store.send_by_key(idem_key)

    def latest_send_of(self, source: str, *, contact_id: str | None = None,
                       email: str | None = None) -> SendRecord | None:
        if source != self._source or contact_id or not email:
            return self._store.latest_send_of(source, contact_id=contact_id, email=email)
        row = self._latest.get(normalize_email(email))
        return row if row is not None and row.email else None
