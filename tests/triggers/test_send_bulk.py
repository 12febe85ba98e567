"""daemon.triggers.bulk.send_people: batches, keys and rules of `closedloop send`, on the
real store (SQLite and PostgreSQL) and the sandbox CRMs over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

import pytest
from trigger_support import NOW

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.triggers.bulk import (
    Outcome,
    SeenAddresses,
    SendRequest,
    SendSummary,
    send_people,
)
from closedloop.daemon.triggers.people_csv import PersonRow, RowError, read_people
from closedloop.integration.base import CRMAdapter
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter

# No coalescing: two batches for one person on one day are two surveys here (the rules'
# coalescing would otherwise keep one; tests/rules pin that).
HS = Program("onboarding", SurveyType.CSAT, "hubspot", timedelta(0), "Acme", trigger="event",
             coalesce=timedelta(0))
ZD = Program("onboarding", SurveyType.CSAT, "zendesk", timedelta(0), "Acme", trigger="event",
             coalesce=timedelta(0))
NO_QUIET = Policy(global_cooldown=timedelta(0), quiet_start=None, quiet_end=None)


def _run(store: Store, adapter: CRMAdapter, program: Program, text: str, *,
         batch: str = "spring", plan: bool = False, policy: Policy = NO_QUIET,
         batch_rows: int = 100) -> tuple[SendSummary, list[Outcome]]:
    seen: list[Outcome] = []
    rows = read_people(text.splitlines(keepends=True))
    summary = send_people(store, {program.source: adapter}, [program], policy,
                          SendRequest(program, "csv", batch, plan=plan), rows, NOW,
                          seen.append, batch_rows=batch_rows)
    return summary, seen


def _count_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the store's add_sends calls (the real method still runs)."""
    sizes: list[int] = []
    real: Callable[[Sequence[NewSend]], int] = store.add_sends

    def counted(sends: Sequence[NewSend]) -> int:
        if sends:
            sizes.append(len(sends))
        return real(sends)

    monkeypatch.setattr(store, "add_sends", counted)
    return sizes


def _status(outcomes: list[Outcome]) -> list[tuple[int, str, str | None, str | None]]:
    return [(o.line, o.status, o.reason, o.detail) for o in outcomes]


def test_one_crm_read_and_one_outbox_write_per_batch(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Five people in batches of two: three contacts reads (by e-mail) and three outbox
    writes, each of one batch's rows; outcomes come in file order."""
    for n in range(5):
        hs_state.create_contact(f"p{n}@example.com", f"P{n}", "Doe", "en")
    writes = _count_writes(store, monkeypatch)
    calls = hubspot.call_count()
    text = "email\n" + "".join(f"p{n}@example.com\n" for n in range(5))
    summary, outcomes = _run(store, hubspot, HS, text, batch_rows=2)
    assert (summary.queued, summary.rejected, dict(summary.skipped)) == (5, 0, {})
    assert [o.line for o in outcomes] == [2, 3, 4, 5, 6]
    assert writes == [2, 2, 1]
    assert hubspot.call_count() - calls == 3


def test_duplicates_are_found_across_batches_and_keys_across_runs(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """The same address in a later batch is "duplicate" (of its first line); the same file
    again is "already_queued" for all; another batch id queues the people again."""
    hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    hs_state.create_contact("bo@example.com", "Bo", "Doe", "en")
    text = "email\nada@example.com\nbo@example.com\nAda@Example.com\n"
    summary, outcomes = _run(store, hubspot, HS, text, batch_rows=2)
    assert _status(outcomes) == [(2, "queued", None, None), (3, "queued", None, None),
                                 (4, "skipped", "duplicate", "line 2")]
    again, outcomes = _run(store, hubspot, HS, text, batch_rows=2)
    assert _status(outcomes) == [(2, "skipped", "already_queued", None),
                                 (3, "skipped", "already_queued", None),
                                 (4, "skipped", "duplicate", "line 2")]
    other, _ = _run(store, hubspot, HS, text, batch="autumn")
    assert (summary.queued, again.queued, other.queued) == (2, 0, 2)
    keys = sorted(r.idem_key for r in store.due_sends_until(NOW + timedelta(days=1)))
    assert [k.rsplit(":", 1)[0] for k in keys] == ["onboarding:hubspot:csv:autumn"] * 2 + [
        "onboarding:hubspot:csv:spring"] * 2
    assert all("@" not in k for k in keys)  # the address is hashed: keys outlive `forget`


def test_plan_decides_the_same_and_writes_nothing(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """--plan: the outcomes a real run then has, and no row before that run."""
    hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    store.suppress("bo@example.com", "unsubscribed", NOW)
    hs_state.create_contact("bo@example.com", "Bo", "Doe", "en")
    text = "email\nada@example.com\nbo@example.com\nnobody@example.com\nbad\n"
    planned, plan_outcomes = _run(store, hubspot, HS, text, plan=True)
    assert store.due_sends_until(NOW + timedelta(days=30)) == []
    assert store.counts()["sends.skipped"] == 0
    done, outcomes = _run(store, hubspot, HS, text)
    assert _status(plan_outcomes) == _status(outcomes) == [
        (2, "queued", None, None), (3, "skipped", "suppressed", None),
        (4, "skipped", "contact_not_found", None),
        (5, "rejected", "not an e-mail address: 'bad'", None)]
    assert (planned.text(plan=True), done.text(plan=False)) == (
        "would queue 1, would skip 2 (contact_not_found 1, suppressed 1), rejected 1 "
        "(plan: nothing was written)",
        "queued 1, skipped 2 (contact_not_found 1, suppressed 1), rejected 1")
    assert store.counts()["skipped.suppressed"] == 1


@pytest.mark.parametrize(("zone", "wait"), [("Europe/Oslo", None),
                                            ("Pacific/Kiritimati", "quiet_hours")])
def test_a_row_due_in_quiet_hours_is_queued_and_says_it_waits(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter, zone: str,
        wait: str | None) -> None:
    """At 10:00 UTC it is 11:00 in Oslo (sent when due) and midnight in Kiritimati (quiet
    hours 21-08): both are queued (pending), the second naming its wait."""
    hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    policy = Policy(global_cooldown=timedelta(0), quiet_start=time(21, 0),
                    quiet_end=time(8, 0))
    _, outcomes = _run(store, hubspot, HS, f"email,time zone\nada@example.com,{zone}\n",
                       policy=policy)
    assert [(o.status, o.detail) for o in outcomes] == [("queued", wait)]
    assert store.counts()["sends.pending"] == 1


@pytest.mark.parametrize("delay", [timedelta(0), timedelta(hours=1)])
def test_a_skip_that_rests_on_a_mail_in_flight_is_not_stored(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter,
        delay: timedelta) -> None:
    """Ada's csat mail is being sent (its lease ends in 30 s; it may still fail for good).
    A bulk survey for her, due now or in an hour (after that lease's end), is queued with
    the wait named (until the later of the two), not stored skipped global_cooldown:
    dispatch decides it when due, on the mail's outcome. Once that mail is recorded sent,
    a bulk survey is skipped at once."""
    hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    store.add_sends([NewSend(
        idem_key="csat-1", program="csat", survey_type="csat", source="hubspot",
        contact_id="c-ada", due_at=NOW - timedelta(minutes=1), created_at=NOW,
        ticket_id="t1", email="ada@example.com")])
    [flying] = store.claim_due_sends(NOW, 1, timedelta(seconds=30))
    assert store.begin_sending(flying.id, NOW)
    cooled = Policy(quiet_start=None, quiet_end=None)  # global cooldown: 7 days
    program = replace(HS, delay=delay)
    summary, outcomes = _run(store, hubspot, program, "email\nada@example.com\n",
                             policy=cooled)
    waits = max(delay, timedelta(seconds=30))  # the row's due time, or the flight's end
    assert [(o.status, o.reason, o.detail, o.due_at) for o in outcomes] == [
        ("queued", None, "survey_in_flight", NOW + waits)]
    assert (summary.queued, store.counts()["sends.pending"]) == (1, 1)
    store.mark_sent(flying.id, NOW, "<csat-1@x>")
    summary, outcomes = _run(store, hubspot, program, "email\nada@example.com\n",
                             batch="again", policy=cooled)
    assert [(o.status, o.reason) for o in outcomes] == [("skipped", "global_cooldown")]


def test_zendesk_users_are_found_by_email(
        store: Store, zd_state: ZendeskState, zendesk: ZendeskAdapter) -> None:
    """Three users and one unknown address: the adapter searches once per address."""
    for name in ("ada", "bo", "cy"):
        zd_state.create_user(f"{name}@example.com", name.title())
    before = zendesk.calls_by_endpoint().get("search_export", 0)
    text = "email\nada@example.com\nbo@example.com\ncy@example.com\nzed@example.com\n"
    summary, _ = _run(store, zendesk, ZD, text)
    assert (summary.queued, dict(summary.skipped)) == (3, {"contact_not_found": 1})
    assert zendesk.calls_by_endpoint()["search_export"] - before == 4


def test_people_the_store_knows_cost_no_crm_call(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """A second batch for people surveyed before resolves them from the outbox."""
    hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    _run(store, hubspot, HS, "email\nada@example.com\n")
    calls = hubspot.call_count()
    summary, _ = _run(store, hubspot, HS, "email\nada@example.com\n", batch="again")
    assert (summary.queued, hubspot.call_count()) == (1, calls)


def test_a_rejected_segment_value_is_a_rejected_row(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """The intake's own checks reject a row too (here a segment the config lacks)."""
    hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    rows: list[PersonRow | RowError] = [
        PersonRow(line=2, email="ada@example.com", segments={"region": "north"})]
    seen: list[Any] = []
    summary = send_people(store, {"hubspot": hubspot}, [HS], NO_QUIET,
                          SendRequest(HS, "csv", "b"), rows, NOW, seen.append)
    assert summary.rejected == 1
    assert seen[0].reason.startswith("segments: 'region' is not a configured segment")


def test_seen_addresses_keep_each_first_line_through_growth() -> None:
    """10,000 digests in a table that starts at 4 slots: each new one answers its own line,
    each repeat the first line; a digest of 0 works like any other."""
    seen = SeenAddresses(capacity=4)
    digests = [0, *(n * 2_654_435_761 % 2**64 for n in range(1, 10_000))]
    assert [seen.first_line(d, line) for line, d in enumerate(digests, start=2)] == list(
        range(2, 10_002))
    assert [seen.first_line(d, 99_999) for d in digests[:3]] == [2, 3, 4]
    assert seen.first_line(2**64 - 1, 7) == 7
