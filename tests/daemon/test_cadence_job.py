"""The cadence job: who is queued in which cycle, when, and why not.

The adapter here is a test double of the protocol's `members()` (the job is under test, not
the CRM); the end-to-end tests run the same job against the sandbox CRMs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from closedloop.daemon.jobs.cadence import (
    CadenceResult,
    cycle_at,
    plan_cadence,
    run_cadence,
)
from closedloop.daemon.store import SendRecord, Store
from closedloop.daemon.store.records import send_record
from closedloop.daemon.store.sends import SENDS
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.base import Contact, MemberSelection
from closedloop.integration.errors import AuthError, ConfigError

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # in the 6-month cycle 2026-07 .. 2027-01
DAY = timedelta(days=1)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)
TO_END = datetime(2027, 1, 1, tzinfo=UTC) - T0 - timedelta(seconds=1)  # the rest of T0's cycle
VIP = MemberSelection(list_id="vip")
NPS = Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme", audience=VIP,
              every_months=6, customer_for=timedelta(days=30))


class Audience:
    """Test double of an adapter's members(): lists held in memory, pages of `page` contacts."""

    name = "hubspot"

    def __init__(self, page: int = 3) -> None:
        self.lists: dict[MemberSelection, list[Contact]] = {}
        self.page = page
        self.reads = 0
        self.fail: Exception | None = None  # raised after the first page

    def members(self, selection: MemberSelection) -> Iterator[list[Contact]]:
        self.reads += 1
        if selection not in self.lists:
            raise ConfigError([f"hubspot: contact list {selection.list_id!r} does not exist"])
        people = self.lists[selection]
        for start in range(0, len(people), self.page):
            if start and self.fail is not None:
                raise self.fail
            yield people[start:start + self.page]


def person(i: int | str, since: datetime | None = LONG_AGO, **kw: object) -> Contact:
    fields: dict[str, object] = {"email": f"p{i}@example.com", "first_name": f"P{i}",
                                 "language": "nb", "timezone": "Europe/Oslo",
                                 "organization_id": "org-1", "customer_since": since}
    fields.update(kw)
    return Contact(id=str(i), **fields)  # type: ignore[arg-type]


def rows(store: Store) -> list[SendRecord]:
    with store.engine.connect() as conn:
        found = conn.execute(select(SENDS).order_by(SENDS.c.id)).mappings().all()
    return [send_record(r) for r in found]


def run(store: Store, audience: Audience, now: datetime, horizon: timedelta = DAY,
        programs: tuple[Program, ...] = (NPS,)) -> CadenceResult:
    return run_cadence(store, audience, list(programs), now, horizon)  # type: ignore[arg-type]


@pytest.fixture
def audience() -> Audience:
    a = Audience()
    a.lists[VIP] = [person(i) for i in range(40)]
    return a


def test_daily_runs_survey_each_member_once_per_cycle_spread_over_it(
        store: Store, audience: Audience) -> None:
    """Daily runs from mid-cycle through the next cycle's first weeks: each member gets exactly
    one row in the first cycle, all sent between the program's first pass and the cycle end,
    each queued at most a horizon ahead; the next cycle starts asking them again."""
    audience.page = 40
    now = T0
    while now < datetime(2027, 2, 15, tzinfo=UTC):
        run(store, audience, now)
        now += DAY
    first = [r for r in rows(store) if r.idem_key.endswith(":cycle:2026-07")]
    second = [r for r in rows(store) if r.idem_key.endswith(":cycle:2027-01")]
    assert sorted(r.contact_id for r in first) == sorted(str(i) for i in range(40))
    assert all(T0 <= r.due_at < datetime(2027, 1, 1, tzinfo=UTC) for r in first)
    assert all(timedelta(0) <= r.due_at - r.created_at <= DAY for r in first)
    assert 10 <= len({r.due_at.date() for r in first}) <= 40  # spread, not one burst
    assert 0 < len(second) < 40  # 45 days of a 181-day cycle: some, not all
    assert all(r.status == "pending" and r.kind == "survey" for r in first + second)


def test_rows_carry_what_the_rules_and_the_mail_need(store: Store, audience: Audience) -> None:
    """Person key, language, time zone, organization and name travel on the row."""
    run(store, audience, T0, horizon=TO_END)
    row = next(r for r in rows(store) if r.contact_id == "7")
    assert (row.program, row.survey_type, row.source, row.ticket_id) == (
        "nps", "nps", "hubspot", None)
    assert (row.email, row.email_norm, row.first_name, row.language, row.timezone,
            row.organization_id) == ("p7@example.com", "p7@example.com", "P7", "nb",
                                     "Europe/Oslo", "org-1")
    assert row.idem_key == "nps:hubspot:contact:7:cycle:2026-07"


def test_a_second_run_or_a_restart_queues_nothing_twice(store: Store, audience: Audience) -> None:
    """The same pass again (a restart, a replica) inserts no row: one per person per cycle."""
    first = run(store, audience, T0, horizon=TO_END)
    again = run(store, audience, T0 + timedelta(hours=1), horizon=TO_END - timedelta(hours=1))
    assert first.queued > 0
    assert again.queued == 0
    assert len(rows(store)) == first.queued


def test_only_sends_within_the_horizon_are_queued(store: Store, audience: Audience) -> None:
    """A row is written a horizon ahead of its send time, not months ahead."""
    run(store, audience, T0, horizon=2 * DAY)
    assert rows(store)
    assert all(r.due_at <= T0 + 2 * DAY for r in rows(store))


def test_customer_for_is_judged_at_the_send_time(store: Store) -> None:
    """Pending iff customer (since the CRM's date, else since first seen) for 30 days by the
    send time; otherwise the cycle's row is kept, skipped "new_customer"."""
    audience = Audience()
    recent = [person(i, since=T0 - timedelta(days=i)) for i in range(0, 60)]
    unknown = [person(f"u{i}", since=None) for i in range(20)]
    audience.lists[VIP] = recent + unknown
    run(store, audience, T0, horizon=TO_END)
    since = {c.id: c.customer_since or T0 for c in recent + unknown}
    found = rows(store)
    assert len(found) == 80
    for row in found:
        old_enough = since[row.contact_id] + timedelta(days=30) <= row.due_at
        assert (row.status, row.skip_reason) == (
            ("pending", None) if old_enough else ("skipped", "new_customer")), row.contact_id
    reasons = Counter(r.skip_reason for r in found)
    assert reasons[None] > 0
    assert reasons["new_customer"] > 0


def test_members_who_join_mid_cycle_wait_for_the_next_cycle(store: Store,
                                                          audience: Audience) -> None:
    """Newcomers after the program's first pass get no row this cycle, one in the next."""
    run(store, audience, T0)
    audience.lists[VIP].append(person("late"))
    run(store, audience, T0 + 10 * DAY, horizon=TO_END - 10 * DAY)
    assert "late" not in {r.contact_id for r in rows(store)}
    next_cycle = cycle_at(T0, 6).end
    run(store, audience, next_cycle, horizon=190 * DAY)
    late = [r for r in rows(store) if r.contact_id == "late"]
    assert [r.idem_key for r in late] == ["nps:hubspot:contact:late:cycle:2027-01"]


def test_members_of_the_first_pass_join_the_current_cycle_without_a_burst(
        store: Store, audience: Audience) -> None:
    """A program configured mid-cycle surveys its audience from that first pass to the cycle's
    end, not all at once for the time already gone."""
    result = run(store, audience, T0, horizon=TO_END)
    due = sorted(r.due_at for r in rows(store))
    assert result.queued == 40
    assert due[0] >= T0
    assert due[-1] < cycle_at(T0, 6).end
    assert due[-1] - due[0] > 20 * DAY


def test_the_program_start_is_the_first_complete_pass(store: Store, audience: Audience) -> None:
    """A first pass that fails half-way fixes nothing: members it did not reach, first seen at
    the next (complete) pass, still belong to the first cycle."""
    audience.fail = ConfigError(["boom"])
    failed = run(store, audience, T0)
    assert failed.failed == {"nps": "ConfigError: boom"}
    assert store.cadence_started("nps", "hubspot") is None
    audience.fail = None
    run(store, audience, T0 + DAY, horizon=TO_END - DAY)
    assert store.cadence_started("nps", "hubspot") == T0 + DAY
    assert len({r.contact_id for r in rows(store)}) == 40


def test_members_who_left_lose_their_pending_survey(store: Store, audience: Audience) -> None:
    """A complete pass without a member skips their pending survey "left_audience"; an
    incomplete pass concludes nothing."""
    run(store, audience, T0, horizon=TO_END)
    gone = audience.lists[VIP].pop(0)
    audience.fail = ConfigError(["list read failed"])
    assert run(store, audience, T0 + DAY).left == 0
    audience.fail = None
    result = run(store, audience, T0 + DAY)
    mine = [r for r in rows(store) if r.contact_id == gone.id]
    assert result.left == 1
    assert [(r.status, r.skip_reason) for r in mine] == [("skipped", "left_audience")]
    assert store.counts()["sends.pending"] == 39


def test_a_member_without_an_address_is_recorded_skipped(store: Store) -> None:
    """No e-mail: the cycle's row is stored skipped "no_email", so status counts it."""
    audience = Audience()
    audience.lists[VIP] = [person(1, email=None), person(2)]
    result = run(store, audience, T0, horizon=TO_END)
    assert (result.queued, dict(result.skipped)) == (1, {"no_email": 1})
    assert store.counts()["skipped.no_email"] == 1


def test_send_times_missed_while_down_longer_than_expiry_are_not_queued(
        store: Store, audience: Audience) -> None:
    """After 40 days down, only send times within the program's expire_after (14 days) back
    are queued late; older ones would be dropped at dispatch anyway."""
    run(store, audience, T0)
    back = T0 + 40 * DAY
    run(store, audience, back)
    late = [r for r in rows(store) if r.created_at == back]
    assert late
    assert all(back - timedelta(days=14) <= r.due_at <= back + DAY for r in late)
    assert not [r for r in rows(store) if T0 + DAY < r.due_at < back - timedelta(days=14)]


def test_ticket_and_other_source_programs_read_nothing(store: Store,
                                                     audience: Audience) -> None:
    """Only this source's cadence programs read an audience."""
    csat = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
    other = replace(NPS, name="zd", source="zendesk")
    result = run(store, audience, T0, programs=(csat, other))
    assert (result.programs, audience.reads, rows(store)) == (0, 0, [])


def test_a_paused_program_still_queues_for_dispatch_to_hold(store: Store,
                                                           audience: Audience) -> None:
    """Paused (enabled = false) rows are queued as usual; dispatch holds them until resume or
    expiry, as for ticket programs, so a resume loses nobody's turn."""
    paused = replace(NPS, enabled=False)
    result = run(store, audience, T0, horizon=TO_END, programs=(paused,))
    assert (result.programs, result.queued) == (1, 40)


def test_one_programs_failure_does_not_stop_the_others(store: Store, audience: Audience) -> None:
    """A missing list is logged for its program; the source's other programs still run."""
    broken = replace(NPS, name="broken", audience=MemberSelection(list_id="nope"))
    result = run(store, audience, T0, horizon=TO_END, programs=(broken, NPS))
    assert list(result.failed) == ["broken"]
    assert result.queued == 40


def test_an_auth_failure_stops_the_source(store: Store, audience: Audience) -> None:
    """A refused token is the source's problem (the runtime pauses it), not one program's."""
    audience.fail = AuthError("401")
    with pytest.raises(AuthError):
        run(store, audience, T0)


def test_two_programs_on_one_list_are_independent(store: Store, audience: Audience) -> None:
    """Each program has its own members, keys and spread (e.g. NPS per product line)."""
    other = replace(NPS, name="nps-eu")
    run(store, audience, T0, horizon=TO_END, programs=(NPS, other))
    found = rows(store)
    assert Counter(r.program for r in found) == {"nps": 40, "nps-eu": 40}
    by_program = {p: {r.contact_id: r.due_at for r in found if r.program == p}
                  for p in ("nps", "nps-eu")}
    assert by_program["nps"] != by_program["nps-eu"]


def test_three_and_twelve_month_cycles(store: Store, audience: Audience) -> None:
    """The cycle label follows every_months: Oct for 3 months, Jan for 12."""
    quarterly = replace(NPS, name="q", every_months=3)
    yearly = replace(NPS, name="y", every_months=12)
    to_2028 = datetime(2028, 1, 1, tzinfo=UTC) - T0 - timedelta(seconds=1)
    run(store, audience, T0, horizon=to_2028, programs=(quarterly, yearly))
    labels = Counter((r.program, r.idem_key.rsplit(":", 1)[1]) for r in rows(store))
    assert labels == {("q", "2026-10"): 40, ("q", "2027-01"): 40, ("q", "2027-04"): 40,
                      ("q", "2027-07"): 40, ("q", "2027-10"): 40,
                      ("y", "2026-01"): 40, ("y", "2027-01"): 40}


def test_the_plan_is_what_a_run_would_queue_and_writes_nothing(
        store: Store, audience: Audience) -> None:
    """plan_cadence for the next 30 days lists exactly the rows a run with that horizon then
    inserts (pending and skipped), and leaves the store untouched."""
    run(store, audience, T0)  # the program's first pass: it has started
    audience.lists[VIP].append(person("late"))  # not stored yet: joins the next cycle
    audience.lists[VIP].append(person("new", since=T0))
    before = (rows(store), store.get_members("nps", "hubspot", ["late", "new"]))
    now = T0 + 3 * DAY
    plan = plan_cadence(store, audience, [NPS], now, now + 30 * DAY)  # type: ignore[arg-type]
    assert (rows(store), store.get_members("nps", "hubspot", ["late", "new"])) == before
    run(store, audience, now, horizon=30 * DAY)
    inserted = [r for r in rows(store) if r.created_at == now]
    assert [(p.idem_key, p.due_at, p.status, p.skip_reason) for p in plan] == sorted(
        ((r.idem_key, r.due_at, r.status, r.skip_reason) for r in inserted),
        key=lambda t: (t[1], t[0]))
    assert "late" not in {p.contact_id for p in plan}
    assert plan == sorted(plan, key=lambda p: p.due_at)


def test_the_job_reads_no_wall_clock(store: Store, audience: Audience) -> None:
    """Everything follows the `now` it is given: the machine's date years away changes nothing."""
    with time_machine.travel(datetime(2031, 5, 5, tzinfo=UTC), tick=False):
        run(store, audience, T0, horizon=TO_END)
    assert all(r.created_at == T0 for r in rows(store))
    assert store.cadence_started("nps", "hubspot") == T0
    assert {r.idem_key.rsplit(":", 1)[1] for r in rows(store)} == {"2026-07"}
