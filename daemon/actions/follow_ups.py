"""Follow-up job: unhappy answers become a task (HubSpot) or a follow-up ticket (Zendesk).

Runs in the write-back cycle on rows the store queued with each answer
(store/follow_ups.py): started before the contact write and finished after it. Each pass
claims due rows under a lease, decides per program's rule which answers call for work,
renders it and hands it to the adapter in one batch (100 per call) in two steps
(`start_follow_ups`): Zendesk submits its create_many jobs at the start, so the contact
write's job polls read them too, and the end finds them done. Owner and group are the ones
at rating time: the stored attribution, or read here for answers not attributed yet
(`with_attribution`), in the calls the hooks' own read would have made, so follow-ups cost
the CRM only their creates. One follow-up per answer: a row that has a CRM id is updated, never
created again; a create whose outcome is unknown (a failed call, or a holder whose claim
ran out unsettled) is retried with `check_first`, so the adapter looks its external id up
before creating. A CRM refusal (owner gone, ticket
deleted) is kept visible as `rejected` with its reason; transient failures wait with
exponential backoff, up to MAX_ATTEMPTS, then stay rejected. Nothing here can block the
contact write: its errors stay inside this job, and its rows are settled after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from closedloop.daemon.actions.rule import Answer, FollowUpRule, body_of, subject_of
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import FollowUpWork, Store
from closedloop.integration.base import Attribution, CRMAdapter, FollowUp, FollowUpResult
from closedloop.integration.errors import AuthError, RateLimited, RecordRejected, TransientError

ROWS_PER_ROUND = 3000
"""Rows one pass claims and hands to the adapter in one call: 30 creates of 100 (Zendesk: 30
create_many jobs, all in flight at once, so their polls are shared). Fewer would split one
cycle's answers over two cycles and two adapter calls, each with its own part-full batches,
job polls and (once the hooks stored the attribution first) Zendesk reads of the originals."""
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)
ATTRIBUTION_BATCH = 100  # tickets per ticket_attribution call (both CRMs)


@dataclass
class FollowUpRun:
    created: int = 0
    updated: int = 0
    not_needed: int = 0
    rejected: int = 0
    deferred: int = 0


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_BASE * (1 << min(attempts, 12)), RETRY_CAP)


def to_follow_up(row: FollowUpWork, rule: FollowUpRule,
                 ticket_url: Callable[[str], str | None]) -> FollowUp:
    """The adapter's view of one row (the answer as it stands now)."""
    assert row.score is not None
    assert row.category is not None
    assert row.answered_at is not None
    answer = Answer(program=row.program, survey_type=row.survey_type, score=row.score,
                    category=row.category, comment=row.comment, ticket_id=row.ticket_id,
                    ticket_subject=row.ticket_subject,
                    ticket_url=(rule.link(row.ticket_id) or ticket_url(row.ticket_id))
                    if row.ticket_id else None,
                    answered_at=row.answered_at)
    body = body_of(answer)
    return FollowUp(
        key=row.external_id, contact_id=row.contact_id, ticket_id=row.ticket_id,
        subject=subject_of(answer), body=body, due_at=rule.due_at(row.answered_at),
        crm_id=row.crm_id, update_text=body if row.crm_id else None,
        check_first=row.attempts > 0 or row.lapsed, owner_id=rule.owner, group_id=rule.group,
        use_configured=rule.use_configured, tags=rule.tags, public=rule.notify_customer)


def process_follow_ups(store: Store, adapter: CRMAdapter, rules: Mapping[str, FollowUpRule],
                       now: datetime, ticket_url: Callable[[str], str | None] = lambda _: None,
                       lease: timedelta = LEASE) -> FollowUpRun:
    """One pass over the source's due follow-up rows."""
    return start_follow_ups(store, adapter, rules, now, ticket_url, lease).finish()


class FollowUpPass:
    """A pass whose rows are claimed and whose creates may be on their way (see
    start_follow_ups); `finish` settles them and releases the claim, once."""

    def __init__(self, store: Store, adapter: CRMAdapter, token: str, now: datetime,
                 run: FollowUpRun) -> None:
        self.store, self.adapter, self.token, self.now, self.run = (store, adapter, token,
                                                                    now, run)
        self.work: dict[str, tuple[FollowUpWork, FollowUp]] = {}
        self.end: Callable[[], FollowUpResult] | None = None
        self.failed: TransientError | AuthError | None = None  # the start's, outcome unknown
        self.finished = False

    def finish(self) -> FollowUpRun:
        """Follow what the start sent to its end and settle every row; rows whose outcome
        is unknown are retried later with check_first."""
        if self.finished:
            return self.run
        self.finished = True
        log = get_logger(job="follow_ups", source=self.adapter.name)
        ended = False  # False: it raised, maybe after a task or ticket landed
        try:
            if self.work:
                result, failed = None, self.failed
                if failed is None and self.end is not None:
                    try:
                        result = self.end()
                    except (TransientError, AuthError) as exc:
                        failed = exc
                if result is not None:
                    _settle(self.store, self.token, self.work, result, self.now, self.run)
                else:
                    # A refused token waits here too, never pausing the source: the contact
                    # write-back (which would pause it if the token were really gone) must
                    # not stop for a task.
                    why = failed or TransientError("the follow-ups' start failed")
                    for row, _ in self.work.values():
                        _defer(self.store, self.token, row, why, self.now, self.run)
                    log.warning("follow_ups.deferred", rows=len(self.work),
                                error=type(why).__name__)
            ended = True
        finally:
            self.store.release_follow_ups(self.token, lapsed=not ended)
            run = self.run
            log.info("follow_ups.done", created=run.created, updated=run.updated,
                     not_needed=run.not_needed, rejected=run.rejected, deferred=run.deferred)
        return self.run


def start_follow_ups(store: Store, adapter: CRMAdapter, rules: Mapping[str, FollowUpRule],
                     now: datetime, ticket_url: Callable[[str], str | None] = lambda _: None,
                     lease: timedelta = LEASE) -> FollowUpPass:
    """Claim the source's due rows, settle the ones that need no work, and start the
    adapter's write (adapter.start_follow_ups: Zendesk submits its creates here, so the
    write-back's job polls before `finish` read them too)."""
    claim = store.claim_follow_ups(adapter.name, now, ROWS_PER_ROUND, lease)
    follow = FollowUpPass(store, adapter, claim.token, now, FollowUpRun())
    run = follow.run
    try:
        for row in claim.rows:
            rule = rules.get(row.program)
            wanted = (rule is not None and row.score is not None and row.category is not None
                      and (row.crm_id is not None
                           or rule.wants(row.score, row.category, row.comment)))
            if not wanted or rule is None:
                store.settle_follow_up(claim.token, row.id, row.version, "not_needed", now)
                run.not_needed += 1
                continue
            try:
                item = to_follow_up(row, rule, ticket_url)
            except ValueError as exc:  # e.g. a calendar without a business day in ten years
                store.settle_follow_up(claim.token, row.id, row.version, "rejected", now,
                                       error=str(exc))
                run.rejected += 1
                continue
            follow.work[item.key] = (row, item)
        if follow.work:
            follow.work = with_attribution(store, adapter, follow.work, now)
            try:
                follow.end = adapter.start_follow_ups([i for _, i in follow.work.values()])
            except (TransientError, AuthError) as exc:  # RateLimited included
                follow.failed = exc
    except BaseException:
        follow.finish()
        raise
    return follow


def with_attribution(store: Store, adapter: CRMAdapter,
                     work: dict[str, tuple[FollowUpWork, FollowUp]],
                     now: datetime) -> dict[str, tuple[FollowUpWork, FollowUp]]:
    """The creates' tickets' holders at rating time, so the adapter need not read them.

    An answer already attributed (Store.record_attribution) gives its stored pair. The
    others are read now with `ticket_attribution` (100 per call) and stored, as the hook's
    write-back would store them: the follow-up runs minutes before the settled hook, and a
    task is for the owner at rating time. The last call is filled with other answers whose
    hook is pending and unattributed, so the hook's own read later costs nothing for them:
    the answers' tickets cost as many calls as without follow-ups. A failed read is logged
    and left to the adapter (it reads what it was not given).
    """
    todo = {row.send_id: str(row.ticket_id) for row, item in work.values()
            if item.crm_id is None and row.ticket_id and not row.attributed}
    read: dict[int, Attribution] = {}
    if todo:
        room = -len(todo) % ATTRIBUTION_BATCH
        ticket_of = {**store.unattributed_hook_tickets(adapter.name, room + len(todo)), **todo}
        if len(ticket_of) > len(todo) + room:  # keep the calls full, never one more
            extra = [s for s in ticket_of if s not in todo][:room]
            ticket_of = {s: ticket_of[s] for s in [*todo, *extra]}
        try:
            found = adapter.ticket_attribution(sorted(set(ticket_of.values())))
        except (TransientError, AuthError, RecordRejected) as exc:
            get_logger(job="follow_ups", source=adapter.name).warning(
                "follow_ups.attribution_unread", error=type(exc).__name__)
            found = None
        if found is not None:
            nobody = Attribution(closed=False)  # deleted: as a read that leaves it out
            read = {s: found.get(t, nobody) for s, t in ticket_of.items()}
            store.record_attribution({s: (a.owner_id, a.team_id) for s, a in read.items()},
                                     now)
    out: dict[str, tuple[FollowUpWork, FollowUp]] = {}
    for key, (row, item) in work.items():
        at = read.get(row.send_id) or (Attribution(row.owner_at_answer, row.team_at_answer)
                                       if row.attributed else None)
        out[key] = (row, replace(item, at_rating=at) if item.crm_id is None else item)
    return out


def _settle(store: Store, token: str, work: dict[str, tuple[FollowUpWork, FollowUp]],
            result: FollowUpResult, now: datetime, run: FollowUpRun) -> None:
    log = get_logger(job="follow_ups")
    for key, (row, _) in work.items():
        if key in result.created:
            store.settle_follow_up(token, row.id, row.version, "done", now,
                                   crm_id=result.created[key])
            run.created += 1
        elif key in result.updated:
            store.settle_follow_up(token, row.id, row.version, "done", now,
                                   crm_id=result.updated[key])
            run.updated += 1
        elif key in result.rejected:
            store.settle_follow_up(token, row.id, row.version, "rejected", now,
                                   error=result.rejected[key])
            log.warning("follow_ups.rejected", follow_up=row.id, reason=result.rejected[key])
            run.rejected += 1
        else:  # the CRM said nothing of it: try again, looking it up first
            _defer(store, token, row, TransientError("no outcome for this follow-up"), now, run)


def _defer(store: Store, token: str, row: FollowUpWork, exc: Exception, now: datetime,
           run: FollowUpRun) -> None:
    reason = f"{type(exc).__name__}: {exc}"[:500]
    if row.attempts + 1 >= MAX_ATTEMPTS:
        store.settle_follow_up(token, row.id, row.version, "rejected", now,
                               error=f"gave up after {MAX_ATTEMPTS} attempts: {reason}")
        run.rejected += 1
        return
    wait = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else None
    later = now + (timedelta(seconds=wait) if wait else retry_delay(row.attempts))
    store.retry_follow_up_later(token, row.id, reason, later)
    run.deferred += 1
