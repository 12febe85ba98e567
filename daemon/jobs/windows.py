"""Coalescing windows: how long CRM work may wait so that one call carries more of it.

At a few surveys an hour every job run would otherwise spend a CRM call on one item: a batch
read for one notified ticket, a reopen check for one survey, a contact write for one answer.
`[coalescing]` lets each kind of work wait a bounded time for company (the waiting rows are in
the store, so a crash or restart loses nothing and the wait goes on from the stored times):

- `answers` (default 45 s): an answer or comment waits until the first write-back run after
  this long; with the job every minute it is on the CRM record within 105 s.
- `writeback` (60 min): every other write-back row (sent dates, preferences, ticket hooks
  after their own settle time) waits at most this long; contact rows ride along an earlier
  answer's write, ticket hooks (a ticket update, a note, the attribution read) do not, nor
  a full batch of contact rows (at 100,000 tickets a day sent dates fill one every minute
  or two: the hooks went with each, ~10 times their window's calls).
- `intake` (55 min): a notified ticket waits at most this long to be read, and never past the
  shortest survey delay of its source's ticket programs less INTAKE_MARGIN, so the survey is
  queued before it is due.
- `sends` (45 min): a due survey or reminder waits at most this long, so one reopen check (100
  tickets a call) and one SMTP session cover the surveys due close together. Measured on the
  steady bench (HubSpot, 1,000 tickets/day): 5 min cost 250 ticket reads a day, 15 min 140
  (0.19 calls per surveyed ticket less) for a survey at most 10 minutes later.

The defaults are chosen for the quota, with answers on the contact within 2 minutes (p95):
on the steady bench at 1,000 tickets a day (after a warm-up day), 15/30/15 min (writeback,
intake, sends) cost 0.91 CRM calls per surveyed ticket on HubSpot and 0.98 on Zendesk,
60/55/45 min 0.60 and 0.58 (the goal of 0.5 is not reached: the answers' own contact writes
are ~0.28). What waits longer: a ticket's note and score fields (the contact's fields,
which contact workflows watch, do not), and a survey's send by at most 45 minutes past its
delay (Zendesk's own satisfaction automation runs once an hour).

A window never holds a full batch (FULL items): at volume the work goes at once. `0s` turns a
window off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from closedloop.daemon.config_types import parse_duration
from closedloop.daemon.jobs.notified import BATCH as INTAKE_BATCH
from closedloop.daemon.jobs.poll import ticket_programs
from closedloop.daemon.store import Backlog, Store
from closedloop.daemon.surveys import Program

FULL = 100  # items one CRM batch call carries: a window never holds that many back
# The intake's full batch is its claim round (jobs/notified.BATCH): HubSpot reads a round's
# associations in one call (1,000 a call), so a round of 500 tickets costs 5 ticket reads,
# one association read and up to 5 contact reads where five rounds of 100 cost 5 of each.
INTAKE_FULL = INTAKE_BATCH
INTAKE_MARGIN = timedelta(minutes=5)


def _duration(value: object) -> timedelta:
    window = parse_duration(value)
    if window < timedelta(0):
        raise ValueError("a window cannot be negative")
    return window


Window = Annotated[timedelta, BeforeValidator(_duration)]


class CoalescingSettings(BaseModel):
    """`[coalescing]`: the longest each kind of CRM work waits for company."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: Window = timedelta(seconds=45)
    writeback: Window = timedelta(minutes=60)
    intake: Window = timedelta(minutes=55)
    sends: Window = timedelta(minutes=45)


OFF = CoalescingSettings.model_construct(  # every window shut: work goes at once
    answers=timedelta(0), writeback=timedelta(0), intake=timedelta(0), sends=timedelta(0))
# The same as a [coalescing] table, for configs built in code (the demos run in seconds).
SHUT_TABLE = {"answers": "0s", "writeback": "0s", "intake": "0s", "sends": "0s"}


def waited(backlog: Backlog, now: datetime, window: timedelta) -> bool:
    """Whether the backlog's oldest item has waited its window (or the backlog is full)."""
    if backlog.rows == 0 or backlog.oldest is None:
        return False
    return backlog.rows >= FULL or now - backlog.oldest >= window


def writeback_ripe(store: Store, source: str, now: datetime,
                   settings: CoalescingSettings) -> tuple[str, ...] | None:
    """What the write-back of `source` should leave out now: None (do not call the CRM),
    () (write everything due: the hooks waited their window or fill a batch), or
    ("hook",) when only the contacts' rows are ripe (an answer waited its window, another
    row its own, or together they fill a batch; sent dates ride along in the same call):
    ticket hooks cost calls of their own (a ticket update, a note), so they wait theirs."""
    answers, others, hooks = store.writeback_backlogs(source, now)
    if waited(hooks, now, settings.writeback):
        return ()
    if answers.rows + others.rows >= FULL or waited(others, now, settings.writeback) \
            or waited(answers, now, settings.answers):
        return ("hook",)
    return None


def intake_window(settings: CoalescingSettings, programs: Iterable[Program],
                  source: str) -> timedelta:
    """The intake's window for `source`: `settings.intake`, bounded by the earliest a survey
    of its ticket programs can be due (the shortest delay) less INTAKE_MARGIN."""
    delays = [p.delay for p in ticket_programs(list(programs), source)]
    if not delays:
        return settings.intake
    return max(timedelta(0), min(settings.intake, min(delays) - INTAKE_MARGIN))


def ripe_count(backlog: Backlog, now: datetime, window: timedelta,
               full: int = FULL) -> int | None:
    """How many of the backlog's items go now: all (None) once the oldest waited its window;
    before, whole batches of `full` only (the rest waits on for company: sending it too made
    a part-filled call after each full one); 0 for none."""
    if backlog.rows == 0 or backlog.oldest is None:
        return 0
    if now - backlog.oldest >= window:
        return None
    return backlog.rows // full * full  # 0 below one batch


def intake_ripe(store: Store, source: str, now: datetime, window: timedelta) -> int | None:
    """How many notified tickets of `source` the intake should read now (`ripe_count` in
    rounds of INTAKE_FULL)."""
    return ripe_count(store.notified_backlog(source, now), now, window, INTAKE_FULL)


def sends_ripe(store: Store, now: datetime, window: timedelta) -> int | None:
    """How many due sends dispatch should take now (`ripe_count`; all when the window is 0)."""
    return ripe_count(store.due_backlog(now), now, window)
