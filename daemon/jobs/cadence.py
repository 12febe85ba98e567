"""NPS on a cadence: every member of a program's audience is surveyed once per cycle.

The rules, precisely:

- **Cycles** are calendar blocks of `every_months` months in UTC, anchored on 1 January:
  3 months start on 1 Jan/Apr/Jul/Oct, 6 months on 1 Jan/Jul, 12 months on 1 Jan. A cycle's
  label is its first month ("2026-07"); the outbox key is
  ``<program>:<source>:contact:<id>:cycle:<YYYY-MM>``, so a person gets at most one survey per
  cycle whatever restarts or replicas do.
- **The window** of a cycle runs from its start (or, in the program's first cycle, from the
  program's first complete pass over its audience) to the cycle's end.
- **Spread**: a member's send time is window start + f × window length, where f in [0, 1)
  comes from a hash of program, source and contact id: the same person lands at the same
  point of every cycle (about `every_months` between two surveys), and a large list goes
  out evenly over the cycle instead of in one burst.
- **Joining**: a member takes part in a cycle only if first seen in the audience at or before
  the window start; anyone who appears later joins the next cycle. The members of the
  program's first pass are the first cycle's members (its window starts at that pass).
- **Eligibility**: by the send time the member must have been a customer for `customer_for`
  (from the CRM's customer-since date, else from when ClosedLoop first saw them in the
  audience); otherwise the cycle's row is stored skipped ("new_customer") and they are asked
  in the next cycle. A member without an address: skipped "no_email". Both visible in status.
- **Lazily queued**: a row is written when its send time falls within `horizon` of a run
  (and not longer ago than the program's `expire_after`), so the address, language and time
  zone it carries are fresh. The fatigue rules (cooldowns, quiet hours, suppression, a
  paused program's hold) apply at dispatch, like for every other survey.
- **Leaving**: after a complete pass, pending surveys of members the pass did not find
  (their last_seen_at is older than the pass) are skipped "left_audience".

Cost: one pass over the audience per run (HubSpot: one memberships call per 250 members plus
one contacts read per 100; Zendesk: one call per 100 users), so run it every few hours, not
every minute; `horizon` must exceed the interval between runs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from closedloop.daemon.channels.choose import route
from closedloop.daemon.insight.capture import NO_SEGMENTS, captured
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.logging import get_logger
from closedloop.daemon.rules import Reason
from closedloop.daemon.store import MemberRecord, NewSend, SeenMember, Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.base import Contact, CRMAdapter, MemberSelection
from closedloop.integration.errors import AuthError, ClosedLoopError

# How far ahead a run queues rows: more than the interval between runs.
HORIZON = timedelta(days=1)

# What `plan_cadence` returns: exactly the rows `run_cadence` would insert (pending, or
# skipped with the reason), so the plan can put them through the same rules as the outbox.
PlannedSend = NewSend


@dataclass(frozen=True)
class Cycle:
    """One survey cycle: [start, end) in UTC."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"


def cycle_at(moment: datetime, months: int) -> Cycle:
    """The cycle of `months` months (a divisor of 12) that contains `moment`."""
    if months <= 0 or 12 % months:
        raise ValueError(f"a cycle is 1, 2, 3, 4, 6 or 12 months, not {months}")
    utc = moment.astimezone(UTC)
    index = utc.year * 12 + utc.month - 1
    first = index - index % months
    return Cycle(_month_start(first), _month_start(first + months))


def _month_start(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def cycles_between(start: datetime, end: datetime, months: int) -> Iterator[Cycle]:
    """The cycles overlapping [start, end], oldest first."""
    cycle = cycle_at(start, months)
    while cycle.start <= end:
        yield cycle
        cycle = cycle_at(cycle.end, months)


def spread(program: str, source: str, contact_id: str) -> float:
    """A member's fixed place in every cycle, in [0, 1): uniform, stable, no state."""
    digest = hashlib.sha256(f"{program}\x00{source}\x00{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def window_start(cycle: Cycle, started: datetime) -> datetime:
    """Where the spread begins: the cycle's start, or the program's first pass in its first."""
    return max(cycle.start, started)


def send_time(cycle: Cycle, started: datetime, fraction: float) -> datetime:
    """The member's send time in this cycle (whole seconds)."""
    begin = window_start(cycle, started)
    length = (cycle.end - begin).total_seconds()
    return begin + timedelta(seconds=int(fraction * length))


def idem_key(program: Program, source: str, contact_id: str, cycle: Cycle) -> str:
    """One survey per program, source, person and cycle (the outbox's UNIQUE key)."""
    return f"{program.name}:{source}:contact:{contact_id}:cycle:{cycle.label}"


def cadence_horizon(every: timedelta) -> timedelta:
    """How far ahead a run queues when runs come `every` apart: two intervals, at least HORIZON,
    so a late or failed run still leaves each send queued before it is due."""
    return max(HORIZON, 2 * every)


@dataclass
class CadenceResult:
    """What one run did, summed over the source's cadence programs."""

    programs: int = 0
    pages: int = 0
    members: int = 0
    queued: int = 0
    left: int = 0  # pending surveys skipped because the member left the audience
    skipped: Counter[str] = field(default_factory=Counter)
    failed: dict[str, str] = field(default_factory=dict)  # program -> error


def cadence_programs(programs: Sequence[Program], source: str) -> list[Program]:
    """The list-based NPS programs of one source, paused ones too: like the poll, the cadence
    keeps queueing a paused program's rows and dispatch holds them until resume or expiry."""
    return [p for p in programs if p.source == source and p.on_cadence
            and p.type is SurveyType.NPS]


def run_cadence(store: Store, adapter: CRMAdapter, programs: Sequence[Program], now: datetime,
                horizon: timedelta = HORIZON,
                reporting: ReportingSettings = NO_SEGMENTS) -> CadenceResult:
    """Read each cadence program's audience once and queue the sends due within `horizon`.

    A program whose audience cannot be read (a missing list, a refused call) is logged and
    left for the next run; the others still run. An AuthError stops the source's run.
    Each row carries the member's contact segments of `reporting` (no ticket: ticket
    segments stay empty), read in the same contacts read.
    """
    log = get_logger(job="cadence", source=adapter.name)
    result = CadenceResult()
    for program in cadence_programs(programs, adapter.name):
        result.programs += 1
        try:
            _run_program(store, adapter, program, now, horizon, result, reporting)
        except AuthError:
            raise
        except ClosedLoopError as exc:
            result.failed[program.name] = f"{type(exc).__name__}: {exc}"
            log.warning("cadence.program_failed", program=program.name,
                        error=result.failed[program.name])
    log.info("cadence.done", programs=result.programs, pages=result.pages,
             members=result.members, queued=result.queued, left=result.left,
             failed=len(result.failed),
             **{f"skipped_{k}": v for k, v in sorted(result.skipped.items())})
    return result


def _run_program(store: Store, adapter: CRMAdapter, program: Program, now: datetime,
                 horizon: timedelta, result: CadenceResult,
                 reporting: ReportingSettings) -> None:
    source = adapter.name
    started = store.cadence_started(program.name, source) or now
    earliest, latest = now - program.expire_after, now + horizon
    for page in adapter.members(_audience(program)):
        contacts = list({c.id: c for c in page}.values())
        seen = [SeenMember(c.id, c.email, c.customer_since) for c in contacts]
        stored = store.upsert_members(program.name, source, seen, now)
        rows = [row for c in contacts
                for row in _member_rows(program, source, c, stored[c.id], started,
                                        earliest, latest, now, horizon, reporting)]
        known = store.existing_idem_keys([r.idem_key for r in rows])
        fresh = [r for r in rows if r.idem_key not in known]
        result.pages += 1
        result.members += len(contacts)
        result.queued += store.add_sends([r for r in fresh if not r.skip_reason])
        skipped = [r for r in fresh if r.skip_reason]
        if skipped and store.add_sends(skipped):
            result.skipped.update(r.skip_reason for r in skipped if r.skip_reason)
    # Only a complete pass may say who left, or fix the program's start.
    store.record_cadence_start(program.name, source, started, now)
    result.left += store.skip_left_members(program.name, source, now)


def plan_cadence(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
                 now: datetime, until: datetime, horizon: timedelta = HORIZON,
                 reporting: ReportingSettings = NO_SEGMENTS) -> list[PlannedSend]:
    """The rows the cadence would queue for send times up to `until`, writing nothing.

    Reads the audiences (one pass each, the same CRM cost as a run) and the stored members;
    a person not stored yet counts as first seen now (so, after the program's first pass,
    joins the next cycle). Each row's created_at is when a run would queue it (a horizon
    before its send time), which is what its expiry counts from. Rows already in the outbox
    are left out: the caller reads those from the store. Sorted by send time.
    """
    planned: list[PlannedSend] = []
    for program in cadence_programs(programs, adapter.name):
        started = store.cadence_started(program.name, adapter.name) or now
        earliest = now - program.expire_after
        for page in adapter.members(_audience(program)):
            contacts = list({c.id: c for c in page}.values())
            stored = store.get_members(program.name, adapter.name, [c.id for c in contacts])
            rows = [row for c in contacts
                    for row in _member_rows(program, adapter.name, c,
                                            stored.get(c.id) or _unseen(c, now), started,
                                            earliest, until, now, horizon, reporting)]
            known = store.existing_idem_keys([r.idem_key for r in rows])
            planned.extend(r for r in rows if r.idem_key not in known)
    return sorted(planned, key=lambda r: (r.due_at, r.program, r.contact_id))


def _audience(program: Program) -> MemberSelection:
    if program.audience is None:  # cadence_programs() keeps only programs with one
        raise ValueError(f"program {program.name!r} has no audience")
    return program.audience


def _unseen(contact: Contact, now: datetime) -> MemberRecord:
    return MemberRecord(program="", source="", contact_id=contact.id, email_norm=None,
                        first_seen_at=now, last_seen_at=now,
                        customer_since=contact.customer_since)


def _member_rows(program: Program, source: str, contact: Contact, member: MemberRecord,
                 started: datetime, earliest: datetime, latest: datetime, now: datetime,
                 horizon: timedelta, reporting: ReportingSettings) -> Iterator[NewSend]:
    """This member's cycle rows whose send time falls in [earliest, latest], each created
    when a run queues it: now, or (planning ahead) a horizon before its send time."""
    fraction = spread(program.name, source, contact.id)
    customer_since = contact.customer_since or member.customer_since or member.first_seen_at
    segments = captured(reporting, source, None, contact)
    for cycle in cycles_between(earliest, latest, program.every_months):
        if window_start(cycle, started) >= cycle.end:
            continue  # the program did not exist yet
        if member.first_seen_at > window_start(cycle, started):
            continue  # joined after the cycle began: the next one is theirs
        due = send_time(cycle, started, fraction)
        if not earliest <= due <= latest:
            continue
        reason: str | None = None
        way = route(program.channel, contact, program.phone_region)
        if way.channel == "email" and not contact.email:
            reason = Reason.NO_EMAIL
        elif way.skip_reason:
            reason = way.skip_reason  # no_phone, invalid_phone
        elif customer_since + program.customer_for > due:
            reason = Reason.NEW_CUSTOMER
        yield NewSend(
            idem_key=idem_key(program, source, contact.id, cycle),
            program=program.name,
            survey_type=program.type.value,
            source=source,
            contact_id=contact.id,
            due_at=due,
            created_at=max(now, due - horizon),
            email=contact.email,
            first_name=contact.first_name,
            language=contact.language,
            timezone=contact.timezone,
            organization_id=contact.organization_id,
            segments=segments,
            status="skipped" if reason else "pending",
            skip_reason=str(reason) if reason else None,
            channel=way.channel,
            phone=way.phone,
        )
