"""After a failed reopen check, dispatch looks again on a backoff, not after a fixed 5 minutes.

Real HubSpot sandbox (its failure injection plays the outage), the real HubSpot adapter and
its retry policy (waits recorded, not slept), real store, real SMTP sink. The adapter's own
retries are spent first; then the row waits CRM_RETRY_FIRST, doubling per failed check of the
source in a row, at most CRM_RETRY; a check that answers resets the curve.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import time_machine

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import (
    CRM_RETRY,
    CRM_RETRY_FIRST,
    DispatchResult,
    dispatch_due,
    reopen_retry_delay,
)
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning: no quiet hours
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
TOKEN = "reopen-token"
READ = "/crm/v3/objects/tickets/batch/read"
ATTEMPTS = 2  # the adapter's own tries per call: an outage must outlast them to reach dispatch


class World:
    def __init__(self, store: Store, sandbox: HubSpotSandbox, sink: LocalMailSink,
                 tickets: list[str]) -> None:
        self.store, self.sandbox, self.sink, self.tickets = store, sandbox, sink, tickets
        self.waits: list[float] = []
        self.adapter = HubSpotAdapter(
            "hubspot", TOKEN, sandbox.url, start_at=NOW - timedelta(days=1),
            retry=RetryPolicy(max_attempts=ATTEMPTS, base=0.01, cap=0.05,
                              sleep=self.waits.append), timeout=(2, 5))

    def queue(self, key: str, ticket_no: int) -> None:
        """A due survey about the ticket_no-th closed ticket of the sandbox."""
        self.store.add_sends([NewSend(
            idem_key=key, program="csat", survey_type="csat", source="hubspot",
            contact_id="c1", due_at=NOW, created_at=NOW - timedelta(hours=1),
            closed_at=NOW - timedelta(hours=1), ticket_id=self.tickets[ticket_no],
            email=f"{key}@example.com")])

    def dispatch(self, at: datetime) -> DispatchResult:
        with time_machine.travel(at, tick=False):
            return dispatch_due(self.store, {"csat": CSAT},
                                SmtpSender("127.0.0.1", self.sink.port), compose, at,
                                policy=Policy(), adapters={"hubspot": self.adapter})

    def outage(self, checks: int) -> None:
        """The next `checks` reopen checks fail, each after the adapter's own retries."""
        self.sandbox.fail_next(checks * ATTEMPTS, 503, path_prefix=READ)

    def due_at(self) -> list[datetime]:
        return [r.due_at for r in self.store.due_sends_until(NOW + timedelta(days=1))]


def compose(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = "How did we do?"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    state = HubSpotState()
    contact = state.create_contact("ada@example.com", "Ada", "L")
    tickets = [state.create_ticket(f"t{n}", contact, closed_at=NOW - timedelta(hours=1))
               for n in range(2)]
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000, port=0) as sandbox, \
            LocalMailSink() as sink:
        yield World(store, sandbox, sink, tickets)


def test_the_backoff_curve() -> None:
    """30 s after the first failed check, doubling, never more than 5 minutes."""
    assert [reopen_retry_delay(n) for n in range(1, 8)] == [
        timedelta(seconds=s) for s in (30, 60, 120, 240, 300, 300, 300)]
    assert (timedelta(seconds=30), timedelta(minutes=5)) == (CRM_RETRY_FIRST, CRM_RETRY)


def test_a_short_outage_is_caught_up_after_the_first_backoff(world: World) -> None:
    """One failed check: the row is due 30 s later (not 5 minutes); a second before that it
    is not looked at; at 30 s the CRM answers and the survey goes."""
    world.queue("ada", 0)
    world.outage(1)
    first = world.dispatch(NOW)
    assert (first.sent, first.retried, world.due_at()) == (0, 1, [NOW + CRM_RETRY_FIRST])
    assert world.dispatch(NOW + CRM_RETRY_FIRST - timedelta(seconds=1)).sent == 0
    assert world.dispatch(NOW + CRM_RETRY_FIRST).sent == 1
    assert len(world.sink.messages) == 1


def test_a_longer_outage_backs_off_and_a_good_check_resets_it(world: World) -> None:
    """Four failed checks in a row: 30 s, 60 s, 120 s, 240 s; then the CRM answers and the
    survey goes. The next failure, for another row, starts again at 30 s."""
    world.queue("ada", 0)
    world.outage(4)
    at, waits = NOW, []
    for _ in range(4):
        assert world.dispatch(at).retried == 1
        [due] = world.due_at()
        waits.append(due - at)
        at = due
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert world.dispatch(at).sent == 1
    world.queue("bob", 1)
    world.outage(1)
    later = at + timedelta(hours=1)
    assert world.dispatch(later).retried == 1
    assert world.due_at() == [later + CRM_RETRY_FIRST]
