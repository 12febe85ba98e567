"""`plan` and `run` name the same winner when several programs are due for one person at once.

The first row decided takes the global cooldown; both decide in daemon.rules.due_order (due
time, then idempotency key), whatever order the rows were stored in. Real store (SQLite and
PostgreSQL), real SMTP sink, the real dispatch job and the real planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import time_machine

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import dispatch_due
from closedloop.daemon.plan import make_plan
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType

NIGHT = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # Friday; quiet hours 21:00-08:00 UTC
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MORNING = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
PROGRAMS = {p.name: p for p in (
    Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme"),
    Program("ces", SurveyType.CES, "hubspot", timedelta(hours=1), "Acme"),
    Program("nps", SurveyType.NPS, "hubspot", timedelta(hours=1), "Acme"),
    Program("zz-csat", SurveyType.CSAT, "zendesk", timedelta(hours=1), "Acme"),
)}
POLICY = Policy()  # a 7-day global cooldown, quiet hours 21:00-08:00


def queue(store: Store, rows: Sequence[tuple[str, datetime]]) -> None:
    """One ticket survey per (program, due time) for Ada, stored in the order given."""
    for n, (program, due) in enumerate(rows):
        store.add_sends([NewSend(
            idem_key=f"{program}:{PROGRAMS[program].source}:ticket:{n}", program=program,
            survey_type=PROGRAMS[program].type.value, source=PROGRAMS[program].source,
            contact_id="ada", ticket_id=str(n), email="ada@example.com",
            closed_at=due - timedelta(hours=1), created_at=due - timedelta(hours=1),
            due_at=due)])


def compose(row: SendRecord, program: Program, now: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = row.program
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


def planned_winner(store: Store, start: datetime) -> list[str]:
    plan = make_plan(store, PROGRAMS, POLICY, {}, start, days=2)
    return [e.program for e in plan.entries if e.action == "send"]


def run_winner(store: Store, sink: LocalMailSink, instants: Sequence[datetime]) -> list[str]:
    for instant in instants:
        with time_machine.travel(instant, tick=False):
            dispatch_due(store, PROGRAMS, SmtpSender("127.0.0.1", sink.port), compose, instant,
                         policy=POLICY)
    return [str(m["Subject"]) for m in sink.messages]


def test_equal_due_times_go_by_key_in_plan_and_run(store: Store, sink: LocalMailSink) -> None:
    """Four programs due at the same second, stored in reverse key order: plan and run both
    send the smallest key's program (ces) and skip the other three for the global cooldown."""
    due = NOON
    queue(store, [("zz-csat", due), ("nps", due), ("csat", due), ("ces", due)])
    assert planned_winner(store, NOON - timedelta(minutes=5)) == ["ces"]
    assert run_winner(store, sink, [NOON]) == ["ces"]
    assert store.counts()["skipped.global_cooldown"] == 3


def test_a_row_due_a_second_earlier_wins_whatever_its_key(
        store: Store, sink: LocalMailSink) -> None:
    """The other side of the tie: zz-csat due one second before the rest wins in both."""
    queue(store, [("csat", NOON), ("ces", NOON), ("zz-csat", NOON - timedelta(seconds=1)),
                  ("nps", NOON)])
    assert planned_winner(store, NOON - timedelta(minutes=5)) == ["zz-csat"]
    assert run_winner(store, sink, [NOON]) == ["zz-csat"]


def test_a_row_due_a_second_later_loses_whatever_its_key(
        store: Store, sink: LocalMailSink) -> None:
    """ces has the smallest key but is due one second after the others: csat (next key) wins."""
    queue(store, [("nps", NOON), ("ces", NOON + timedelta(seconds=1)), ("csat", NOON)])
    assert planned_winner(store, NOON - timedelta(minutes=5)) == ["csat"]
    assert run_winner(store, sink, [NOON + timedelta(seconds=1)]) == ["csat"]


def test_rows_already_due_when_the_plan_starts_keep_their_due_order(
        store: Store, sink: LocalMailSink) -> None:
    """Rows overdue at the start are decided together, earliest due first, as one dispatch
    run takes them: nps (overdue by 2 h, stored last) wins in both."""
    queue(store, [("ces", NOON - timedelta(hours=1)), ("csat", NOON - timedelta(hours=1)),
                  ("nps", NOON - timedelta(hours=2))])
    assert planned_winner(store, NOON) == ["nps"]
    assert run_winner(store, sink, [NOON]) == ["nps"]


def test_rows_held_by_quiet_hours_until_one_morning_agree(
        store: Store, sink: LocalMailSink) -> None:
    """The reported case: CSAT, CES and NPS due at 23:00, 22:30 and 22:00 wait for 08:00 and are
    then due at the same instant. plan used to keep the evening order (NPS), run the storage
    order (CSAT); both now take the key order at 08:00: CES, the other two skipped."""
    queue(store, [("csat", NIGHT + timedelta(minutes=90)), ("ces", NIGHT + timedelta(hours=1)),
                  ("nps", NIGHT + timedelta(minutes=30))])
    assert planned_winner(store, NIGHT) == ["ces"]
    evening = [NIGHT + timedelta(minutes=m) for m in (30, 60, 90)]
    assert run_winner(store, sink, [*evening, MORNING]) == ["ces"]
    assert store.counts()["skipped.global_cooldown"] == 2


def test_claims_take_ties_by_key_in_code_point_order_across_batches(store: Store) -> None:
    """Rows due at one instant are claimed by key as Python orders strings (a locale collation
    would put 'ab' before 'a_b'), so a batch boundary cuts the same order plan uses."""
    keys = ["ab", "a_b", "aB", "a-b", "A"]
    for key in keys:
        store.add_sends([NewSend(idem_key=key, program="csat", survey_type="csat",
                                 source="hubspot", contact_id=key, due_at=NOON,
                                 created_at=NOON, email=f"{key}@example.com")])
    first = store.claim_due_sends(NOON, 2, timedelta(seconds=30))
    rest = store.claim_due_sends(NOON, 10, timedelta(seconds=30))
    assert [r.idem_key for r in first + rest] == sorted(keys) == ["A", "a-b", "aB", "a_b", "ab"]
