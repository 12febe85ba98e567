"""`closedloop plan` plays the coming days through the rules: what it shows is what dispatch
does, and it sends, writes and moves nothing.

Real sandbox HubSpot (hubspot-api-client), real store (SQLite and PostgreSQL), real SMTP sink.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import dispatch_due
from closedloop.daemon.jobs.poll import poll_source
from closedloop.daemon.plan import Plan, make_plan
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.store.tables import Base
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.integration.base import CRMAdapter
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday
TOKEN = "plan-token"
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               pipelines=("0",), reminders=(timedelta(days=3),))
CES = Program("ces", SurveyType.CES, "hubspot", timedelta(hours=2), "Acme", pipelines=("5",))
POLICY = Policy()


@pytest.fixture
def state() -> HubSpotState:
    return HubSpotState()


@pytest.fixture
def adapter(state: HubSpotState) -> Iterator[HubSpotAdapter]:
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000, port=0) as sandbox:
        yield HubSpotAdapter("hubspot", TOKEN, sandbox.url, start_at=NOW - timedelta(days=1),
                             retry=RetryPolicy(max_attempts=2, max_delay=1.0), timeout=(2, 5))


def close(state: HubSpotState, email: str, at: datetime, pipeline: str = "0",
          timezone: str | None = None) -> str:
    contact = state.contact_by_email(email) or state.create_contact(
        email, "Ada", "Doe", "en", timezone=timezone)
    return state.create_ticket("Printer on fire", contact, pipeline=pipeline, closed_at=at)


def compose(row: SendRecord, program: Program, now: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = f"{row.kind} {row.survey_id}"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table: the plan must leave this unchanged."""
    with store.engine.connect() as conn:
        return {name: [dict(r) for r in conn.execute(select(table)).mappings()]
                for name, table in sorted(Base.metadata.tables.items())}


@pytest.fixture
def scene(store: Store, state: HubSpotState, adapter: HubSpotAdapter) -> Store:
    """Ada: a CSAT ticket (queued) and a CES ticket (closed since the poll); Bob in Auckland,
    where 10:30 UTC is 23:30; Dee unsubscribed."""
    close(state, "ada@example.com", NOW - timedelta(minutes=30))
    close(state, "bob@example.com", NOW - timedelta(minutes=30), timezone="Pacific/Auckland")
    close(state, "dee@example.com", NOW - timedelta(minutes=30))
    poll_source(store, adapter, [CSAT, CES], NOW)
    close(state, "ada@example.com", NOW - timedelta(minutes=10), pipeline="5")
    store.suppress("dee@example.com", "unsubscribed", NOW - timedelta(days=1))
    return store


def planned(plan: Plan) -> list[tuple[str, str, str | None, str, str, str, str]]:
    return [(f"{e.at:%a %H:%M}", e.action, e.reason, e.program, e.kind, e.email or "", e.origin)
            for e in plan.entries]


def test_the_plan_shows_sends_skips_deferrals_and_reminders(
        scene: Store, adapter: HubSpotAdapter) -> None:
    plan = make_plan(scene, {"csat": CSAT, "ces": CES}, POLICY, {"hubspot": adapter}, NOW, days=4)
    assert planned(plan) == [
        ("Fri 10:30", "send", None, "csat", "survey", "ada@example.com", "queued"),
        ("Fri 10:30", "skip", "suppressed", "csat", "survey", "dee@example.com", "queued"),
        ("Fri 11:50", "skip", "global_cooldown", "ces", "survey", "ada@example.com",
         "new_ticket"),
        ("Fri 19:00", "send", "quiet_hours", "csat", "survey", "bob@example.com", "queued"),
        ("Mon 10:30", "send", None, "csat", "reminder", "ada@example.com", "after_send"),
        ("Mon 19:00", "send", None, "csat", "reminder", "bob@example.com", "after_send"),
    ]
    assert plan.counts() == {"send.csat": 4, "skip.global_cooldown": 1, "skip.suppressed": 1}
    assert plan.notes == []


def test_the_plan_writes_nothing_sends_nothing_moves_no_cursor(
        scene: Store, adapter: HubSpotAdapter) -> None:
    before = snapshot(scene)
    with LocalMailSink() as sink:
        make_plan(scene, {"csat": CSAT, "ces": CES}, POLICY, {"hubspot": adapter}, NOW, days=7)
        assert sink.messages == []
    after = snapshot(scene)
    assert after == before
    assert before["cursors"]  # there was a cursor to move, and it did not move
    assert len(before["sends"]) == 3


def test_dispatch_then_does_what_the_plan_said(scene: Store, adapter: HubSpotAdapter) -> None:
    """Run the real jobs every 30 minutes over the same 4 days: same sends at the same
    minutes, same skips with the same reasons."""
    programs = {"csat": CSAT, "ces": CES}
    plan = make_plan(scene, programs, POLICY, {"hubspot": adapter}, NOW, days=4)
    poll_source(scene, adapter, list(programs.values()), NOW)
    with LocalMailSink() as sink:
        mailer = SmtpSender("127.0.0.1", sink.port)
        tick = NOW
        while tick <= plan.end:
            dispatch_due(scene, programs, mailer, compose, tick, policy=POLICY,
                         adapters={"hubspot": adapter})
            tick += timedelta(minutes=30)
    rows = [r for r in map(scene.get_send, range(1, 20)) if r is not None]
    sent = sorted((r.sent_at, r.program, r.kind, r.email) for r in rows if r.status == "sent")
    skipped = sorted((r.program, r.email or "", r.skip_reason or "") for r in rows
                     if r.status == "skipped")
    assert (len(sent), len(skipped)) == (4, 2)
    assert sent == sorted((e.at, e.program, e.kind, e.email) for e in plan.entries
                          if e.action == "send")
    assert skipped == sorted((e.program, e.email or "", e.reason or "") for e in plan.entries
                             if e.action == "skip")


def test_paused_program_shows_as_held_and_sampling_as_skipped(
        store: Store, state: HubSpotState, adapter: HubSpotAdapter) -> None:
    close(state, "ada@example.com", NOW - timedelta(minutes=30))
    for i in range(20):
        close(state, f"p{i}@example.com", NOW - timedelta(minutes=30), pipeline="5")
    paused = replace(CSAT, enabled=False)
    sampled = replace(CES, sample=50.0)
    plan = make_plan(store, {"csat": paused, "ces": sampled}, POLICY, {"hubspot": adapter},
                     NOW, days=1)
    counts = plan.counts()
    assert counts["hold.program_paused"] == 1
    assert counts["send.ces"] + counts["skip.sampled_out"] == 20
    assert 0 < counts["skip.sampled_out"] < 20


def test_cadence_members_come_from_the_cadence_planner(
        store: Store, adapter: HubSpotAdapter) -> None:
    """The cadence job's planner is called with the window; its rows are played like others."""
    calls: list[tuple[datetime, datetime]] = []
    nps = Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme")

    def planner(store: Store, crm: CRMAdapter, programs: Sequence[Program], now: datetime,
                until: datetime) -> list[NewSend]:
        calls.append((now, until))
        return [NewSend(idem_key="nps:hubspot:contact:9:cycle:2026-07", program="nps",
                        survey_type="nps", source="hubspot", contact_id="9",
                        due_at=NOW + timedelta(days=2), created_at=NOW,
                        email="zoe@example.com")]

    plan = make_plan(store, {"nps": nps}, POLICY, {"hubspot": adapter}, NOW, days=3,
                     cadence=planner)
    assert calls == [(NOW, NOW + timedelta(days=3))]
    assert planned(plan) == [("Sun 10:00", "send", None, "nps", "survey", "zoe@example.com",
                              "cadence")]


def test_an_unreadable_source_is_a_note_not_a_crash(store: Store, state: HubSpotState) -> None:
    with HubSpotSandbox(state, token=TOKEN, port=0) as sandbox:
        wrong = HubSpotAdapter("hubspot", "wrong-token", sandbox.url,
                               retry=RetryPolicy(max_attempts=1, max_delay=0.1), timeout=(2, 5))
        plan = make_plan(store, {"csat": CSAT}, POLICY, {"hubspot": wrong}, NOW)
    assert plan.entries == []
    assert len(plan.notes) == 1
    assert plan.notes[0].startswith("sources.hubspot: not read (AuthError")
