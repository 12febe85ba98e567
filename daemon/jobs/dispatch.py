"""Dispatch job: due outbox rows become e-mails, each sent at most once, if the rules allow.

A row moves pending → claimed → sending → awaiting_reply → sent. `sending` is committed
before the SMTP conversation (the single gate against a second sender), `awaiting_reply` right
before the final dot, and `sent` once the relay answered 250, a group of mails at a time
(jobs/sent_marks.py). A crash or a cut connection before the dot leaves nothing at the
relay: the row is sent again (a cut one after a backoff, at most MAX_SEND_ATTEMPTS times).
After the dot the outcome is unknown until `sent` is recorded: the row becomes
`outcome_unknown`, which the rules count as sent (cooldowns hold, no reminder) and status
shows apart: a customer mailed twice is worse than a survey lost.

Each claimed batch is judged by the rule engine (daemon.rules) with facts read in bulk: the
people's ledger and rows, suppressions, reminders' surveys, and the CRM's word on which
tickets were reopened (one call per 100 tickets). A row is sent, skipped with a reason,
deferred (quiet hours, off days, another survey to the person in flight) or held (paused
program); those not sent are written together at the batch's next lease renewal or its end
(jobs/not_now.py). `closedloop plan` runs the same engine, so what it shows is what this
job does.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from closedloop.daemon.backoff import doubling
from closedloop.daemon.channels import Channel, ChannelDown, HandOver, NotTaken, OutcomeUnknown
from closedloop.daemon.channels.mail import MAIL_RETRY, MailChannel
from closedloop.daemon.jobs.attribution import reopened_filling
from closedloop.daemon.jobs.not_now import NotNowRows
from closedloop.daemon.jobs.sent_marks import PendingMarks
from closedloop.daemon.jobs.windows import sends_ripe
from closedloop.daemon.logging import get_logger
from closedloop.daemon.rules import (
    Action,
    Decision,
    Due,
    Facts,
    ParentState,
    PersonBook,
    Reason,
    decide,
    due_order,
)
from closedloop.daemon.store import CONNECTION_LOST, SendRecord, Store
from closedloop.daemon.store.ledger import DEFERRED, HELD, OthersClaims
from closedloop.daemon.surveys import Policy, Program
from closedloop.integration.base import CRMAdapter
from closedloop.integration.errors import ClosedLoopError

# A claim lasts this long unless renewed: a daemon killed mid-batch holds its rows only this
# long. The dispatcher renews what it still holds every RENEW_EVERY of work, so a slow batch
# keeps its rows; if it stalls past the lease, begin_sending's conditional update still
# guarantees a single send.
LEASE = timedelta(seconds=30)
RENEW_EVERY = timedelta(seconds=10)
# The relay (or the SMS provider) is down: the batch is due again after MAIL_RETRY. A message
# the provider did not take (SMTP 4xx, Twilio 429) is tried again after the channel's first
# wait (MAIL_RETRY; a cut before the end of data, a blip: CUT_RETRY, 30 s, 1, 2, 4 minutes),
# doubling each time, and given up after MAX_SEND_ATTEMPTS tries.
MAX_SEND_ATTEMPTS = 5
# The reopen check failed (after the adapter's own retries): look again after CRM_RETRY_FIRST,
# doubling per failed check of that source in a row, at most CRM_RETRY (the curve of the
# write-back rows, with the old fixed wait as its ceiling). A successful check resets it.
CRM_RETRY_FIRST = timedelta(seconds=30)
CRM_RETRY = timedelta(minutes=5)
REOPEN_FAILURES = "reopen_check_failures"  # cursor name: failed checks in a row, per source
REOPEN_BATCH = 100  # tickets per `reopened` call (the CRMs' batch read size)


class MailSession(Protocol):
    def open(self) -> None: ...

    def send(self, msg: EmailMessage,
             before_end_of_data: Callable[[], bool] | None = None) -> None: ...


class Mailer(Protocol):
    def session(self) -> AbstractContextManager[MailSession]: ...


class Composer(Protocol):
    """Builds a row's mail; `now` is the time the send will be recorded at (dates the token)."""

    def __call__(self, row: SendRecord, program: Program, now: datetime) -> EmailMessage: ...


@dataclass
class DispatchResult:
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    deferred: Counter[str] = field(  # quiet_hours, send_day, survey_in_flight, paused
        default_factory=Counter)
    retried: int = 0
    failed: int = 0
    unknown: int = 0  # the connection broke after the end of data: counted as sent


@dataclass
class _Batch:
    """The facts for one claimed batch, read in bulk before any row is judged."""

    book: PersonBook
    suppressed: set[str]
    reopened: set[tuple[str, str]]  # (source, ticket id)
    unchecked: set[tuple[str, str]]  # the CRM could not say: retry those rows soon
    recheck_at: dict[str, datetime]  # per source whose check failed: when to look again
    parents: dict[int, ParentState]


def dispatch_due(store: Store, programs: Mapping[str, Program], mailer: Mailer,
                 compose: Composer, now: datetime, batch: int = 200,
                 policy: Policy | None = None,
                 adapters: Mapping[str, CRMAdapter] | None = None,
                 paused: Collection[str] = (),
                 channels: Mapping[str, Channel[Any]] | None = None,
                 window: timedelta = timedelta(0)) -> DispatchResult:
    """Send every survey and reminder the rules allow now, in claimed batches over one session.

    Without `adapters` the reopen check is skipped (a ticket that reopened still gets its
    survey); the runtime always passes them. A `paused` source's CRM is not asked: its
    ticket surveys wait as when the check fails (daemon.health pauses a refused token).
    `channels` sends the rows that are not mail ("sms": daemon.channels.sms).
    `window` ([coalescing] sends): nothing is taken until the earliest due row has waited
    that long (or a full reopen-check batch is due: then whole batches of 100 only, the
    rest waiting on), so one check covers several surveys.
    """
    log = get_logger(job="dispatch")
    policy = policy or Policy()
    result = DispatchResult()
    released = store.release_stale(now)
    if any(released.values()):
        log.warning("dispatch.released_stale", **released)
    limit = sends_ripe(store, now, window) if window else None
    if limit == 0:
        return result
    started = time.monotonic()  # `now` is the run's clock; leases also follow the work's time
    taken = 0
    while (take := batch if limit is None else min(batch, limit - taken)) > 0 and \
            (rows := store.claim_due_sends(_later(now, started), take, LEASE, due_by=now)):
        taken += len(rows)
        rows.sort(key=lambda r: due_order(Due.of(r)))  # plan decides in this order too
        renewed = time.monotonic()
        facts = _gather(store, programs, adapters or {}, rows, now, paused)
        done = 0
        marks = PendingMarks(store)  # the relay's 250s, recorded a group at a time
        later = NotNowRows(store)  # skips and deferrals, written at each renewal and the end
        try:
            with mailer.session() as session:
                ways = {**(channels or {}), "email": MailChannel(store, session, compose)}
                for row in rows:
                    if time.monotonic() - renewed >= RENEW_EVERY.total_seconds():
                        store.renew_claims([r.id for r in rows[done:]] + marks.send_ids(),
                                           _later(now, started) + LEASE)
                        # decided rows leave 'claimed' now rather than renewed: another
                        # dispatcher's rows of their people wait on a claim (rules/book.py)
                        _write_not_now(later, log)
                        renewed = time.monotonic()
                    _dispatch_one(store, programs, policy, facts, ways, row, now, result,
                                  marks, later)
                    done += 1
        except ChannelDown as exc:
            # The relay is down or refuses our login: every row would fail the same way. Hand
            # this batch back for a later run and say so once. (Another channel being down
            # only holds back its own rows: see _send.)
            log.error("dispatch.mail_relay_failed", error=str(exc))
            for row in rows[done:]:
                store.mark_send_failed(row.id, f"mail relay: {exc}", now + MAIL_RETRY)
            result.retried += len(rows) - done
            break
        finally:  # before the next claim: its rules read these rows in the store
            try:
                marks.flush()
            finally:
                _write_not_now(later, log)
        if len(rows) < take:
            break
    log.info("dispatch.done", sent=result.sent, retried=result.retried, failed=result.failed,
             outcome_unknown=result.unknown,
             skipped=sum(result.skipped.values()), deferred=sum(result.deferred.values()),
             **{f"skipped_{k}": v for k, v in result.skipped.items()},
             **{f"deferred_{k}": v for k, v in result.deferred.items()})
    return result


def _write_not_now(later: NotNowRows, log: Any) -> None:
    held = len(later)
    if (moved := later.flush()) < held:  # a stall let another dispatcher take them
        log.warning("dispatch.decisions_overtaken", rows=held - moved)


def _later(now: datetime, started: float) -> datetime:
    """The run's clock moved on by the work's elapsed time (a frozen test clock stays put
    for short runs; a long batch still sees its leases age)."""
    return now + timedelta(seconds=time.monotonic() - started)


def _gather(store: Store, programs: Mapping[str, Program], adapters: Mapping[str, CRMAdapter],
            rows: Sequence[SendRecord], now: datetime, paused: Collection[str] = ()) -> _Batch:
    people = [r.email_norm for r in rows if r.email_norm]
    phones = [r.phone for r in rows if r.phone and r.channel == "sms"]  # a STOP suppresses it
    parents = store.parent_states([r.parent_id for r in rows if r.parent_id is not None])
    reopened, unchecked, checked = _reopened(adapters, programs, rows, paused, store, now)
    return _Batch(
        book=store.person_book(people, OthersClaims(
            mine={r.id for r in rows}, last_turn=due_order(Due.of(rows[-1])) if rows else None,
            look_again=now + LEASE)),
        suppressed=store.suppressed_among(people + phones, now),
        reopened=reopened,
        unchecked=unchecked,
        recheck_at=_recheck_times(store, checked, now),
        parents=parents,
    )


def _recheck_times(store: Store, checked: Mapping[str, bool],
                   now: datetime) -> dict[str, datetime]:
    """Count each source's failed reopen checks in a row (in the store, so a restart or
    another replica goes on from it) and say when its unchecked rows are due again."""
    recheck: dict[str, datetime] = {}
    for source, ok in checked.items():
        failures = int(store.get_cursor(source, REOPEN_FAILURES) or 0)
        if ok:
            if failures:
                store.set_cursor(source, REOPEN_FAILURES, "0", now)
            continue
        failures += 1
        store.set_cursor(source, REOPEN_FAILURES, str(failures), now)
        recheck[source] = now + reopen_retry_delay(failures)
    return recheck


def reopen_retry_delay(failures: int) -> timedelta:
    """The wait after `failures` failed reopen checks in a row (1-based)."""
    return doubling(failures, CRM_RETRY_FIRST, CRM_RETRY)


def _reopened(adapters: Mapping[str, CRMAdapter], programs: Mapping[str, Program],
              rows: Sequence[SendRecord], paused: Collection[str] = (),
              store: Store | None = None, now: datetime | None = None,
              ) -> tuple[set[tuple[str, str]], set[tuple[str, str]], dict[str, bool]]:
    """Ask each CRM, 100 tickets a call, which of the batch's surveyed tickets reopened (the
    last call's spare room reads answers' attribution: jobs/attribution.reopened_filling).

    Also says, per source asked, whether every call answered (a paused source is not asked)."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        program = programs.get(row.program)
        if row.kind == "survey" and row.ticket_id and program is not None and program.enabled \
                and row.source in adapters:
            wanted[row.source].append(row.ticket_id)
    reopened: set[tuple[str, str]] = set()
    unchecked: set[tuple[str, str]] = set()
    checked: dict[str, bool] = {}
    for source, ids in wanted.items():
        unique = list(dict.fromkeys(ids))
        if source in paused:
            unchecked.update((source, t) for t in unique)
            continue
        checked[source] = True
        for start in range(0, len(unique), REOPEN_BATCH):
            part = unique[start:start + REOPEN_BATCH]
            try:
                if store is not None and now is not None:
                    found = reopened_filling(store, adapters[source], part,
                                             REOPEN_BATCH - len(part), now)
                else:
                    found = adapters[source].reopened(part)
                reopened.update((source, t) for t in found)
            except ClosedLoopError as exc:
                get_logger(job="dispatch", source=source).warning(
                    "dispatch.reopen_check_failed", tickets=len(part),
                    error=f"{type(exc).__name__}: {exc}")
                unchecked.update((source, t) for t in part)
                checked[source] = False
    return reopened, unchecked, checked


def _dispatch_one(store: Store, programs: Mapping[str, Program], policy: Policy, facts: _Batch,
                  channels: dict[str, Channel[Any]], row: SendRecord, now: datetime,
                  result: DispatchResult, marks: PendingMarks, later: NotNowRows) -> None:
    log = get_logger(job="dispatch", program=row.program, send_id=row.id)
    program = programs.get(row.program)
    due = Due.of(row)
    ticket = (row.source, row.ticket_id or "")
    if row.kind == "survey" and ticket in facts.unchecked:
        later.postpone(row.id, facts.recheck_at.get(row.source, now + CRM_RETRY),
                       "reopen check failed")
        result.retried += 1
        return
    row_facts = Facts(
        suppressed=(bool(row.email_norm) and row.email_norm in facts.suppressed)
        or (row.channel == "sms" and bool(row.phone) and row.phone in facts.suppressed),
        reopened=row.kind == "survey" and ticket in facts.reopened,
        parent=facts.parents.get(row.parent_id) if row.parent_id is not None else None,
    )
    decision = decide(due, program, policy, now, facts.book, row_facts)
    if decision.action is not Action.SEND:
        _not_now(store, later, facts.book, row, decision, result)
        log.info("send.skipped" if decision.action is Action.SKIP else "send.deferred",
                 reason=str(decision.reason), kind=row.kind)
        return
    assert program is not None  # decide() skips rows of removed programs
    try:
        sent = _send(store, program, channels.get(row.channel), row, now, result, marks)
    except ChannelDown as exc:
        if row.channel == "email":
            raise  # dispatch_due hands the whole batch back
        # Twilio cannot be reached: this row and the batch's next texts wait; mail goes on.
        if not isinstance(channels.get(row.channel), _Down):
            log.error("dispatch.channel_failed", channel=row.channel, error=str(exc))
            channels[row.channel] = _Down(row.channel, str(exc))
        store.mark_send_failed(row.id, f"{row.channel}: {exc}", now + MAIL_RETRY)
        result.retried += 1
        return
    if sent and row.email_norm and row.kind == "survey":
        facts.book.record_sent(row.email_norm, row.program, row.idem_key, now)


def _not_now(store: Store, later: NotNowRows, book: PersonBook, row: SendRecord,
             decision: Decision, result: DispatchResult) -> None:
    reason = str(decision.reason)
    if decision.action is Action.SKIP:
        if decision.reason is Reason.TICKET_REOPENED:
            store.cancel_send(row.id, reason)  # frees the key now: solved again, surveyed again
        else:
            later.skip(row.id, reason)
        if row.email_norm:
            book.set_status(row.email_norm, row.idem_key, "skipped")
        result.skipped[reason] += 1
        return
    assert decision.until is not None  # DEFER and HOLD carry when to look again
    note = HELD if decision.action is Action.HOLD else f"{DEFERRED}{reason}"
    later.postpone(row.id, decision.until, note)
    result.deferred[reason] += 1


def _send(store: Store, program: Program, channel: Channel[Any] | None, row: SendRecord,
          now: datetime, result: DispatchResult, marks: PendingMarks) -> bool:
    """Compose and send one row through its channel; True when it left (or may have).

    Every channel makes the same outbox moves: `sending` (begin_sending) once the channel
    is ready, then `awaiting_reply` (end_of_data) right before the provider gets it (SMTP:
    before the final dot; Twilio: before the POST), so a crash or a lost answer from there
    on leaves the row outcome_unknown, counted as sent and never sent again. `sent` is
    recorded with a later mail's begin_sending (jobs/sent_marks.py)."""
    log = get_logger(job="dispatch", program=row.program, send_id=row.id, channel=row.channel)
    if channel is None:
        store.mark_send_failed(row.id, f"no {row.channel} channel is configured", None)
        result.failed += 1
        log.warning("send.failed", error="channel not configured")
        return False
    try:
        message = channel.compose(row, program, now)
    except (ValueError, TypeError, LookupError) as exc:
        store.mark_send_failed(row.id, f"cannot compose: {type(exc).__name__}: {exc}", None)
        result.failed += 1
        log.warning("send.failed", error=f"cannot compose: {type(exc).__name__}")
        return False
    channel.ready()  # an unreachable relay hands the batch back before the row is touched
    if not marks.begin_sending(row.id, now):
        return False  # another dispatcher took it after its lease expired
    attempt = row.attempts + 1  # begin_sending counted this try
    refused = False
    try:
        reference = channel.send(
            row, message,
            lambda reference=None: store.end_of_data(row.id, attempt, now, reference), now)
    except ChannelDown:
        raise  # this row and the rest of the batch are handed back by dispatch_due
    except OutcomeUnknown as exc:
        store.mark_outcome_unknown(row.id, CONNECTION_LOST, now)
        result.unknown += 1
        log.warning("send.outcome_unknown", error=str(exc), kind=row.kind)
        return True
    except NotTaken as exc:
        reference, refused = None, True
        _refused(store, row, attempt, exc, now, result)
    if reference is None:  # refused (recorded above), or the lease was lost: not sent
        if not refused:
            log.warning("send.abandoned", reason="lease lost before the hand-over")
        return False
    reminders = program.reminders if row.kind == "survey" else ()
    marks.add(row.id, now, reference, reminders)
    result.sent += 1
    return True


def _refused(store: Store, row: SendRecord, attempt: int, exc: NotTaken, now: datetime,
             result: DispatchResult) -> None:
    """The provider surely does not have it: again later (bounded, doubling), or give up."""
    log = get_logger(job="dispatch", program=row.program, send_id=row.id)
    if exc.unsubscribed and row.phone:
        store.suppress(row.phone, "unsubscribed", now)  # the provider's own opt-out list
    if exc.retry_after is not None and attempt < MAX_SEND_ATTEMPTS:
        retry_at = now + exc.retry_after * (1 << (attempt - 1))
        store.mark_send_failed(row.id, f"attempt {attempt}: {exc}", retry_at)
        result.retried += 1
        log.warning("send.retry_later", error=str(exc), attempts=attempt,
                    retry_at=retry_at.isoformat())
        return
    result.failed += 1
    if exc.retry_after is not None:
        store.mark_send_failed(row.id, f"gave up after {attempt} attempts: {exc}", None)
        log.warning("send.failed", error=str(exc), attempts=attempt)
        return
    store.mark_send_failed(row.id, str(exc), None)
    log.warning("send.failed", error=str(exc), hard_bounce=exc.hard_bounce)


@dataclass
class _Down:
    """A channel found down in this batch: its next rows are handed back without a try."""

    name: str
    reason: str

    def compose(self, row: SendRecord, program: Program, now: datetime) -> None:
        return None

    def ready(self) -> None:
        raise ChannelDown(self.reason)

    def send(self, row: SendRecord, message: None, handed_over: HandOver,
             now: datetime) -> str | None:
        raise ChannelDown(self.reason)
