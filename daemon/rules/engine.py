"""The rule engine: for one due row, send now, defer, hold, or skip with a reason.

Order matters only for which reason a skipped row carries; the most specific comes first:
removed → expired → paused (held) → no address → suppressed → (reminders: parent not sent,
answered, superseded) → (surveys: ticket reopened, sampled out, coalesced, program cooldown,
global cooldown) → quiet hours / send days (deferred, never skipped).

A survey in flight in another dispatcher counts as sent, but its outcome is not known until
its lease ends (it may still fail for good, or go back to pending). A skip that rests on it
alone (coalesced, a cooldown, superseded) is not made yet: the row waits until that flight's
end (`survey_in_flight`) and is decided again, so a mail that never arrives costs no survey.
A skip the rules make without the flights stands at once. A row another dispatcher has
only claimed counts the same way, while its lease runs, for the rows after it in due order
(for dispatch; the widget's card counts every claim): two dispatchers holding one person's
rows decide them as one would, in due order.

Coalescing: tickets of one person closed within `program.coalesce` of each other get one
survey, about the latest ticket of the burst known when a survey comes due. A due row is
skipped "coalesced" when a later ticket of the burst is still queued (its row will carry the
survey), or when a survey about a ticket of the burst already went out (a ticket closed just
after the survey left). Chains count: tickets at 0 h, 20 h and 40 h are one burst for 24 h.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from closedloop.daemon.rules.book import ANY_PROGRAM, ParentState, PersonBook, Sibling
from closedloop.daemon.rules.decision import Action, Decision, Reason
from closedloop.daemon.rules.sampling import sampled_in
from closedloop.daemon.rules.timing import local_zone, next_allowed
from closedloop.daemon.store.records import NewSend, SendRecord
from closedloop.daemon.store.sends import normalize_email
from closedloop.daemon.surveys import Policy, Program

PAUSED_RECHECK = timedelta(hours=1)  # a held row is looked at again this often


@dataclass(frozen=True)
class Due:
    """A survey or reminder about to be decided: a stored row or one plan imagines."""

    key: str  # idempotency key
    program: str
    kind: str  # "survey" or "reminder"
    person: str | None  # normalized e-mail: one person across programs and CRMs
    ticket_id: str | None
    closed_at: datetime | None
    created_at: datetime
    due_at: datetime
    timezone: str | None
    reminder_no: int = 0

    @classmethod
    def of(cls, row: SendRecord | NewSend) -> Due:
        person = getattr(row, "email_norm", None)
        if person is None and row.email:
            person = normalize_email(row.email)
        if person is None and row.channel == "sms":
            person = row.phone  # reached by SMS only: the number is the person (channels)
        return cls(key=row.idem_key, program=row.program, kind=row.kind, person=person,
                   ticket_id=row.ticket_id, closed_at=row.closed_at, created_at=row.created_at,
                   due_at=row.due_at, timezone=row.timezone, reminder_no=row.reminder_no)

    def expires_at(self, program: Program) -> datetime:
        """`expire_after` past the event: the close, a reminder's first due time, the queueing."""
        if self.kind == "reminder" and 0 < self.reminder_no <= len(program.reminders):
            anchor = self.created_at + program.reminders[self.reminder_no - 1]
        else:
            anchor = self.closed_at or self.created_at
        return anchor + program.expire_after


@dataclass(frozen=True)
class Facts:
    """What the caller looked up for this row (the book holds the person's history)."""

    suppressed: bool = False
    reopened: bool = False  # the ticket is open again (or deleted)
    parent: ParentState | None = None  # reminders only


def due_order(due: Due) -> tuple[datetime, str]:
    """The one order in which due rows are decided, by dispatch and by plan alike.

    The first row decided wins a global cooldown, so this order is which program reaches a
    person when several are due at once. Earlier due time first; at the same due time (several
    programs due together, or rows quiet hours held until the same morning) the idempotency
    key: plan knows it before a row is stored, and it does not depend on which poller inserted
    first, as a row id does. Store.claim_due_sends claims in this same order.
    """
    return (due.due_at, due.key)


Rule = Callable[[Due, Program, Policy, datetime, PersonBook, Facts], Reason | None]


def decide(due: Due, program: Program | None, policy: Policy, now: datetime,
           book: PersonBook, facts: Facts, known: datetime | None = None) -> Decision:
    """What to do with `due` at `now`; pure, so dispatch and plan agree by construction.

    `known` (default `now`): when the surveys in flight are looked at. A caller that decides
    a row now for its later due time (bulk sends) passes the present, so a mail whose
    outcome is unknown today is not counted as arrived by then (plan, which plays the
    coming days assuming every mail arrives, does not)."""
    if program is None:
        return Decision.skip(Reason.PROGRAM_REMOVED)
    expires = due.expires_at(program)
    if now >= expires:
        return Decision.skip(Reason.EXPIRED)
    if not program.enabled:
        return Decision(Action.HOLD, Reason.PROGRAM_PAUSED, min(now + PAUSED_RECHECK, expires))
    rules = _REMINDER_RULES if due.kind == "reminder" else _SURVEY_RULES
    if due.person:
        book = book.at_turn(due.person, due_order(due), known or now)
    for rule in rules:
        if (reason := rule(due, program, policy, now, book, facts)) is not None:
            return _unless_in_flight(due, program, policy, now, known or now, book, facts,
                                     rules, reason, expires)
    at, why = next_allowed(now, local_zone(due.timezone, policy.default_timezone), policy)
    if why is not None:
        return Decision(Action.DEFER, why, at)
    return Decision.send()


def _unless_in_flight(due: Due, program: Program, policy: Policy, now: datetime,
                      known: datetime, book: PersonBook, facts: Facts, rules: tuple[Rule, ...],
                      reason: Reason, expires: datetime) -> Decision:
    """Skip for `reason`, unless it rests on a survey whose outcome is unknown at `known`:
    then wait for the earliest such outcome (or the row's expiry, if sooner), and at least
    until `now`, the time decided for."""
    person = due.person
    ends = book.unresolved(person, known) if reason in _BOOK_REASONS and person else None
    if person is None or ends is None:
        return Decision.skip(reason)
    settled = book.settled(person, known)
    for rule in rules:  # the rules before the book's gave nothing already: same facts
        if (sure := rule(due, program, policy, now, settled, facts)) is not None:
            return Decision.skip(sure)
    return Decision(Action.DEFER, Reason.SURVEY_IN_FLIGHT, max(now, min(ends, expires)))


def _no_email(due: Due, program: Program, policy: Policy, now: datetime, book: PersonBook,
              facts: Facts) -> Reason | None:
    return Reason.NO_EMAIL if not due.person else None


def _suppressed(due: Due, program: Program, policy: Policy, now: datetime, book: PersonBook,
                facts: Facts) -> Reason | None:
    return Reason.SUPPRESSED if facts.suppressed else None


def _parent(due: Due, program: Program, policy: Policy, now: datetime, book: PersonBook,
            facts: Facts) -> Reason | None:
    parent = facts.parent
    if parent is None or parent.sent_at is None:
        return Reason.PARENT_NOT_SENT
    if parent.answered:
        return Reason.ANSWERED
    assert due.person is not None  # _no_email ran first
    latest = book.last_sent(due.person, ANY_PROGRAM)
    if latest is not None and latest > parent.sent_at:
        return Reason.SUPERSEDED  # another survey reached them since: do not pile on
    return None


def _reopened(due: Due, program: Program, policy: Policy, now: datetime, book: PersonBook,
              facts: Facts) -> Reason | None:
    return Reason.TICKET_REOPENED if facts.reopened else None


def _sampled_out(due: Due, program: Program, policy: Policy, now: datetime, book: PersonBook,
                 facts: Facts) -> Reason | None:
    assert due.person is not None
    item = due.ticket_id or due.key
    return None if sampled_in(program.name, due.person, item, program.sample) \
        else Reason.SAMPLED_OUT


def _coalesced(due: Due, program: Program, policy: Policy, now: datetime, book: PersonBook,
               facts: Facts) -> Reason | None:
    if due.closed_at is None or program.coalesce <= timedelta(0):
        return None
    assert due.person is not None
    for other in book.siblings(due.person, program.name, due.key):
        if other.closed_at is None or abs(other.closed_at - due.closed_at) > program.coalesce:
            continue
        if other.status in ("sent", "sending"):
            return Reason.COALESCED  # this burst already got its survey
        if (other.closed_at, other.key) > (due.closed_at, due.key):
            return Reason.COALESCED  # a later ticket of the burst will carry it
    return None


def _program_cooldown(due: Due, program: Program, policy: Policy, now: datetime,
                      book: PersonBook, facts: Facts) -> Reason | None:
    assert due.person is not None
    last = book.last_sent(due.person, program.name)
    return Reason.PROGRAM_COOLDOWN if _within(now, last, program.cooldown) else None


def _global_cooldown(due: Due, program: Program, policy: Policy, now: datetime,
                     book: PersonBook, facts: Facts) -> Reason | None:
    assert due.person is not None
    last = book.last_sent(due.person, ANY_PROGRAM)
    return Reason.GLOBAL_COOLDOWN if _within(now, last, policy.global_cooldown) else None


def _within(now: datetime, last: datetime | None, cooldown: timedelta) -> bool:
    """Inside a cooldown from `last`. A zero cooldown is off: a survey on its way counts as
    sent at its lease's end, a moment after `now`, which `now - last < 0` would count."""
    return cooldown > timedelta(0) and last is not None and now - last < cooldown


_SURVEY_RULES: tuple[Rule, ...] = (_no_email, _suppressed, _reopened, _sampled_out, _coalesced,
                                   _program_cooldown, _global_cooldown)
_REMINDER_RULES: tuple[Rule, ...] = (_no_email, _suppressed, _parent)
# The reasons that read the book, so may rest on a survey in flight.
_BOOK_REASONS = frozenset({Reason.COALESCED, Reason.PROGRAM_COOLDOWN, Reason.GLOBAL_COOLDOWN,
                           Reason.SUPERSEDED})


def sibling_of(due: Due, status: str) -> Sibling:
    """The row as the book sees it (plan adds the rows it imagines this way)."""
    return Sibling(key=due.key, program=due.program, closed_at=due.closed_at, status=status)
