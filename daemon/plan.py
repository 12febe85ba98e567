"""`closedloop plan`: who would be surveyed in the next N days, when, by which program, and who
would be skipped and why, without sending, writing or moving a cursor.

It plays the coming days through the same rule engine dispatch uses (daemon.rules.decide),
in due order, on a simulated copy of the people's ledger: two rows for one person in a week
show as one send and one "global_cooldown" skip, a survey deferred by quiet hours shows at the
minute it would leave, and a sent survey's reminders show when they would follow (assuming
no answer). Three kinds of rows are played:

- queued: the outbox's pending rows due in the window;
- new_ticket: tickets closed since the saved poll cursor (read from the CRM, cursor untouched);
- cadence: NPS list members whose cycle falls in the window (daemon.jobs.cadence.plan_cadence).

What it cannot know: whether a ticket reopens before its survey (dispatch asks the CRM at
send time), answers and unsubscribes still to come, and mail the relay will refuse.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from closedloop.daemon.insight.capture import NO_SEGMENTS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.jobs.poll import CURSOR, new_sends, ticket_programs
from closedloop.daemon.logging import get_logger
from closedloop.daemon.rules import (
    Action,
    Due,
    Facts,
    ParentState,
    PersonBook,
    Sibling,
    decide,
    due_order,
)
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program
from closedloop.integration.base import CRMAdapter
from closedloop.integration.errors import ClosedLoopError

# (store, adapter, programs, now, until) -> rows the cadence would queue, writing nothing.
CadencePlanner = Callable[[Store, CRMAdapter, Sequence[Program], datetime, datetime],
                          Sequence[NewSend]]


@dataclass(frozen=True)
class PlanEntry:
    """One line of the plan: a send (at the minute it would leave), a skip, a hold."""

    at: datetime  # when it would be sent, or decided
    action: str  # send, skip, hold (paused program), later (deferred past the window)
    reason: str | None  # skip/hold reason; for a send, why it left later than due
    program: str
    source: str
    kind: str  # survey or reminder
    origin: str  # queued, new_ticket, cadence, or after_send (a reminder of a planned send)
    contact_id: str
    email: str | None
    ticket_id: str | None
    due_at: datetime
    segments: Mapping[str, str] | None = None  # custom segments the row carries / would carry

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "action": self.action, "reason": self.reason,
                "program": self.program, "source": self.source, "kind": self.kind,
                "origin": self.origin, "contact_id": self.contact_id, "email": self.email,
                "ticket_id": self.ticket_id, "due_at": self.due_at.isoformat(),
                "segments": dict(self.segments or {})}


@dataclass
class Plan:
    start: datetime
    end: datetime
    entries: list[PlanEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sources that could not be read, etc.
    # Surveys already handed to the relay whose outcome is unknown, by where they broke: the
    # rules count them as sent (so this plan's cooldowns do), and no reminder follows them.
    outcome_unknown: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Sends per program, skips per reason, holds: the summary line and the log event."""
        totals: Counter[str] = Counter()
        for entry in self.entries:
            if entry.action == "send":
                totals[f"send.{entry.program}"] += 1
            else:
                totals[f"{entry.action}.{entry.reason}"] += 1
        return dict(sorted(totals.items()))

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "counts": self.counts(), "notes": self.notes,
                "outcome_unknown": self.outcome_unknown,
                "entries": [e.as_dict() for e in self.entries]}


@dataclass
class _Item:
    """A row on its way through the simulation."""

    due: Due
    row: SendRecord | NewSend
    origin: str
    parent: ParentState | None = None
    deferred: str | None = None  # why it moved past its due time (quiet hours, send day)


def make_plan(store: Store, programs: Mapping[str, Program], policy: Policy,
              adapters: Mapping[str, CRMAdapter], now: datetime, days: int = 7,
              cadence: CadencePlanner | None = None,
              reporting: ReportingSettings = NO_SEGMENTS) -> Plan:
    """Play the next `days` days through the rules; reads the store and the CRMs, writes nothing.

    New tickets' rows carry the `reporting` segments they would be queued with (the cadence
    planner is given its own)."""
    plan = Plan(start=now, end=now + timedelta(days=days))
    items = [_Item(Due.of(r), r, "queued") for r in store.due_sends_until(plan.end)]
    fresh = _new_rows(store, programs, adapters, now, plan, cadence, reporting)
    for row, origin in fresh:
        if row.skip_reason:  # decided when it is queued: no-address, sampled out, too old ...
            plan.entries.append(_entry(Due.of(row), row, origin, "skip", row.skip_reason, now))
        else:
            items.append(_Item(Due.of(row), row, origin))
    people = sorted({i.due.person for i in items if i.due.person})
    book = store.person_book(people)
    for item in items:
        if item.origin != "queued" and item.due.person:
            book.add(item.due.person, Sibling(item.due.key, item.due.program,
                                              item.due.closed_at, "pending"))
    parents = store.parent_states([r.row.parent_id for r in items
                                   if isinstance(r.row, SendRecord) and r.row.parent_id])
    for item in items:
        if isinstance(item.row, SendRecord) and item.row.parent_id is not None:
            item.parent = parents.get(item.row.parent_id)
    _note_outcome_unknown(plan, store)
    _play(plan, items, programs, policy, book, store.suppressions_of(people))
    plan.entries.sort(key=lambda e: (e.at, e.program, e.contact_id))
    get_logger(job="plan").info("plan.done", days=days, **plan.counts())
    return plan


def _note_outcome_unknown(plan: Plan, store: Store) -> None:
    prefix = "outcome_unknown."
    plan.outcome_unknown = {k.removeprefix(prefix): v for k, v in store.counts().items()
                            if k.startswith(prefix) and v}
    total = sum(plan.outcome_unknown.values())
    if total:
        plan.notes.append(
            f"{total} survey(s) have an unknown outcome (the relay may have them): counted "
            "as sent by the cooldowns here as in a run, never sent again, no reminder")


def _new_rows(store: Store, programs: Mapping[str, Program], adapters: Mapping[str, CRMAdapter],
              now: datetime, plan: Plan,
              cadence: CadencePlanner | None,
              reporting: ReportingSettings) -> list[tuple[NewSend, str]]:
    """Tickets closed since the saved cursor, and cadence rows due in the window."""
    rows: dict[str, tuple[NewSend, str]] = {}
    everything = list(programs.values())
    for name, adapter in adapters.items():
        try:
            mine = ticket_programs(everything, name)
            if mine:
                for page in adapter.closed_tickets(store.get_cursor(name, CURSOR)):
                    for row in new_sends(store, adapter, mine, page.tickets, now, reporting):
                        rows.setdefault(row.idem_key, (row, "new_ticket"))
            if cadence is not None:
                for row in cadence(store, adapter, everything, now, plan.end):
                    rows.setdefault(row.idem_key, (row, "cadence"))
        except ClosedLoopError as exc:
            plan.notes.append(f"sources.{name}: not read ({type(exc).__name__}: {exc}); "
                              "its new tickets and list members are missing from this plan")
    if cadence is None and any(p.on_cadence for p in everything):
        plan.notes.append("NPS list programs: the cadence planner is not available; their "
                          "members are missing from this plan")
    return list(rows.values())


def _play(plan: Plan, items: list[_Item], programs: Mapping[str, Program], policy: Policy,
          book: PersonBook, suppressions: Mapping[str, datetime | None]) -> None:
    """Decide each row at its time, as a dispatcher running all along would: rows already due
    at the start are decided together in due order (as one dispatch run takes them), later ones
    at their due time; ties go by daemon.rules.due_order, the order dispatch claims rows in."""
    order = itertools.count()  # never reached (due_order is unique per row): keeps items apart
    queue = [(max(i.due.due_at, plan.start), due_order(i.due), next(order), i) for i in items]
    heapq.heapify(queue)
    while queue:
        at, _, _, item = heapq.heappop(queue)
        if at > plan.end:
            continue
        due, program = item.due, programs.get(item.due.program)
        facts = Facts(suppressed=_suppressed(due.person, at, suppressions), parent=item.parent)
        decision = decide(due, program, policy, at, book, facts)
        if decision.action is Action.DEFER:
            assert decision.until is not None
            item.deferred = item.deferred or str(decision.reason)
            if decision.until > plan.end:
                plan.entries.append(_entry(due, item.row, item.origin, "later",
                                           str(decision.reason), decision.until))
            else:  # due again at `until`, as Store.postpone_send rewrites the row's due_at
                again = replace(due, due_at=decision.until)
                heapq.heappush(queue, (decision.until, due_order(again), next(order), item))
            continue
        if decision.action is Action.SEND:
            plan.entries.append(_entry(due, item.row, item.origin, "send", item.deferred, at))
            if due.kind == "survey" and due.person:
                book.record_sent(due.person, due.program, due.key, at)
                assert program is not None
                for n, delay in enumerate(program.reminders, start=1):
                    reminder = _reminder_of(item, n, at, delay)
                    heapq.heappush(queue, (at + delay, due_order(reminder.due), next(order),
                                           reminder))
            continue
        action = "hold" if decision.action is Action.HOLD else "skip"
        plan.entries.append(_entry(due, item.row, item.origin, action, str(decision.reason), at))
        if decision.action is Action.SKIP and due.person:
            book.set_status(due.person, due.key, "skipped")


def _suppressed(person: str | None, at: datetime,
                suppressions: Mapping[str, datetime | None]) -> bool:
    if person is None or person not in suppressions:
        return False
    until = suppressions[person]
    return until is None or until > at  # a snooze may end within the window


def _reminder_of(item: _Item, number: int, sent_at: datetime, delay: timedelta) -> _Item:
    """The reminder a planned send would queue (as Store.mark_sent does), assuming no answer."""
    due = Due(key=f"{item.due.key}:reminder:{number}", program=item.due.program,
              kind="reminder", person=item.due.person, ticket_id=item.due.ticket_id,
              closed_at=item.due.closed_at, created_at=sent_at, due_at=sent_at + delay,
              timezone=item.due.timezone, reminder_no=number)
    return _Item(due, item.row, "after_send", ParentState(sent_at=sent_at, answered=False))


def _entry(due: Due, row: SendRecord | NewSend, origin: str, action: str, reason: str | None,
           at: datetime) -> PlanEntry:
    return PlanEntry(at=at, action=action, reason=reason, program=due.program,
                     source=row.source, kind=due.kind, origin=origin,
                     contact_id=row.contact_id, email=row.email, ticket_id=row.ticket_id,
                     due_at=due.due_at, segments=row.segments)


def plan_tables(plan: Plan) -> list[RenderableType]:
    """The plan as the terminal shows it: fits 80 columns, and never cuts a value short.

    No vertical rules and the date range in a heading leave room for the values; a column too
    narrow folds its text onto a second line instead of ending it in an ellipsis, and the
    reason column is kept as wide as its longest reason so it never folds.
    """
    reasons = [e.reason or "" for e in plan.entries]
    heading = Text(f"ClosedLoop plan, {plan.start:%Y-%m-%d %H:%M} to "
                   f"{plan.end:%Y-%m-%d %H:%M} UTC (nothing is sent)")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("when UTC", no_wrap=True)
    table.add_column("what", overflow="fold", max_width=8)  # "send reminder" on two lines
    table.add_column("why", overflow="fold", min_width=max(map(len, reasons), default=3))
    table.add_column("program", overflow="fold")
    table.add_column("contact", overflow="fold")
    table.add_column("ticket", overflow="fold")  # the program names the source
    segmented = any(e.segments for e in plan.entries)
    if segmented:  # only when [reporting.segments] captured some
        table.add_column("segments", overflow="fold")
    for e in plan.entries:
        cells = [f"{e.at:%m-%d %H:%M}", e.action if e.kind == "survey" else
                 f"{e.action} {e.kind}", e.reason or "", e.program,
                 e.email or e.contact_id, e.ticket_id or ""]
        if segmented:
            cells.append(" ".join(f"{k}={v}" for k, v in (e.segments or {}).items()))
        table.add_row(*cells)
    summary = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    summary.add_column("totals", overflow="fold")
    summary.add_column("count", justify="right", no_wrap=True)
    for key, value in plan.counts().items():
        summary.add_row(key, str(value))
    return [heading, table, summary]
