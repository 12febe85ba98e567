"""daemon.triggers.queue_trigger: one trigger, one outbox row, through the poll's own path.

Real sandbox CRMs over HTTP with the real client libraries, real store (SQLite and
PostgreSQL).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from trigger_support import NOW, TOKEN

from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.jobs.poll import poll_source, ticket_programs
from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.triggers import (
    BadTrigger,
    Person,
    Queued,
    Trigger,
    UnknownPerson,
    UnknownProgram,
    queue_trigger,
    queue_triggers,
)
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter

CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
ONBOARD = Program("onboarding", SurveyType.CES, "hubspot", timedelta(minutes=30), "Acme",
                  trigger="event")
ZD_ONBOARD = Program("zd-onboarding", SurveyType.CSAT, "zendesk", timedelta(0), "Acme",
                     trigger="event")
PROGRAMS = [CSAT, ONBOARD]
REPORTING = ReportingSettings(segments={"region": "contact.region"})


def hs_trigger(contact_id: str, event: str | None = "wf-1", **kw: object) -> Trigger:
    return Trigger(program=kw.pop("program", "onboarding"),  # type: ignore[arg-type]
                   person=Person(contact_id=contact_id), kind="hubspot_workflow",
                   event_id=event, **kw)  # type: ignore[arg-type]


def test_event_trigger_queues_one_row_and_its_retry_is_a_duplicate_without_crm_calls(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """The row carries the trigger, reference, person and times; the same event id again
    answers 'duplicate' with the same key and reads nothing from the CRM."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "fr",
                                  timezone="Europe/Paris")
    occurred = NOW - timedelta(minutes=5)
    first = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                          hs_trigger(cid, reference="deal:123", occurred_at=occurred), NOW)
    assert (first.key, first.status, first.reason) == (
        "onboarding:hubspot:hubspot_workflow:wf-1", "queued", None)
    row = store.send_by_key(first.key)
    assert row is not None
    assert (row.id, row.program, row.contact_id, row.email, row.first_name, row.language,
            row.timezone, row.trigger, row.reference, row.ticket_id, row.status) == (
        first.send_id, "onboarding", cid, "ada@example.com", "Ada", "fr", "Europe/Paris",
        "hubspot_workflow", "deal:123", None, "pending")
    assert (row.closed_at, row.due_at) == (occurred, occurred + timedelta(minutes=30))
    calls = hubspot.call_count()
    again = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                          hs_trigger(cid, reference="deal:123", occurred_at=occurred), NOW)
    assert (again.key, again.status, again.send_id) == (first.key, "duplicate", first.send_id)
    assert hubspot.call_count() == calls
    assert [r.idem_key for r in store.due_sends_until(NOW + timedelta(days=1))] == [first.key]


def test_unknown_program_names_the_valid_ones(store: Store, hubspot: HubSpotAdapter) -> None:
    """The error lists the configured programs, sorted."""
    with pytest.raises(UnknownProgram) as caught:
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger("1", program="nps"),
                      NOW)
    assert caught.value.detail == ("no program 'nps' is configured; expected one of: "
                                   "csat, onboarding")
    assert caught.value.code == "unknown_program"


def test_a_contact_the_crm_does_not_know_is_unknown_person(
        store: Store, hubspot: HubSpotAdapter) -> None:
    """No row, a specific error naming the source and the id."""
    with pytest.raises(UnknownPerson) as caught:
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger("999"), NOW)
    assert caught.value.detail == "source 'hubspot' has no contact '999'"
    assert store.send_by_key("onboarding:hubspot:hubspot_workflow:wf-1") is None


def test_a_person_the_store_knows_costs_no_crm_call(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """After one trigger read the contact, a second event for the same e-mail resolves
    from the store's row: same contact id, no HTTP call."""
    cid = hs_state.create_contact("grace@example.com", "Grace", "Hopper", "en")
    queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger(cid, "a"), NOW)
    calls = hubspot.call_count()
    by_mail = Trigger("onboarding", Person(email="Grace@Example.com"), "hubspot_workflow",
                      event_id="b")
    second = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, by_mail, NOW)
    row = store.send_by_key(second.key)
    assert (second.status, second.from_store, row and row.contact_id, hubspot.call_count()) == (
        "queued", True, cid, calls)


def test_a_ticket_of_a_ticket_program_takes_the_poll_key_so_the_poll_adds_nothing(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """Triggered for a closed ticket, then polled: one survey, keyed as the poll keys it,
    with the ticket's own close time and pipeline."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    closed = NOW - timedelta(hours=2)
    tid = hs_state.create_ticket("Printer on fire", cid, closed_at=closed)
    outcome = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                            Trigger("csat", Person(contact_id=cid), "manual", ticket_id=tid),
                            NOW)
    assert outcome.key == f"csat:hubspot:ticket:{tid}"
    row = store.send_by_key(outcome.key)
    assert row is not None
    assert (row.closed_at, row.pipeline, row.ticket_id, row.trigger) == (closed, "0", tid,
                                                                          "manual")
    result = poll_source(store, hubspot, PROGRAMS, NOW)
    assert (result.tickets, result.queued) == (1, 0)


def test_event_programs_are_not_fed_by_the_ticket_poll() -> None:
    """`trigger = "event"` keeps a program out of the poll's list; ticket ones stay."""
    assert ticket_programs(PROGRAMS, "hubspot") == [CSAT]


def test_dry_run_decides_and_writes_nothing(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """`--plan`: the same key and status, no row."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    plan = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger(cid), NOW,
                         dry_run=True)
    assert (plan.key, plan.status, plan.send_id) == (
        "onboarding:hubspot:hubspot_workflow:wf-1", "queued", None)
    assert store.send_by_key(plan.key) is None


def test_no_address_and_too_old_are_stored_skips(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """As the poll stores them: no_email; expired at occurred_at + expire_after exactly,
    and not one second before."""
    nomail = hs_state.create_contact(None, "No", "Mail", "en")
    got = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger(nomail, "e1"), NOW)
    assert (got.status, got.reason) == ("skipped", "no_email")
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    edge = NOW - ONBOARD.expire_after
    old = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                        hs_trigger(cid, "e2", occurred_at=edge), NOW)
    fresh = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                          hs_trigger(cid, "e3", occurred_at=edge + timedelta(seconds=1)), NOW)
    assert [(old.status, old.reason), (fresh.status, fresh.reason)] == [
        ("skipped", "expired"), ("queued", None)]
    row = store.send_by_key(old.key)
    assert (row and row.status, row and row.skip_reason) == ("skipped", "expired")


def test_without_an_event_id_the_key_is_per_person_subject_and_day(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """A manual send run twice the same UTC day queues once; the next day, a new row."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    manual = Trigger("onboarding", Person(contact_id=cid), "manual", reference="order:A-17")
    one = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, manual, NOW)
    two = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, manual, NOW)
    later = NOW + timedelta(days=1)
    three = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, manual, later)
    assert (one.key, two.status) == (
        f"onboarding:hubspot:manual:{cid}:order:A-17:2026-11-20", "duplicate")
    assert (three.key, three.status) == (
        f"onboarding:hubspot:manual:{cid}:order:A-17:2026-11-21", "queued")


def test_the_trigger_overrides_and_segments_ride_on_the_row(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """Name, language, zone, phone and configured segments given in the trigger win."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    person = Person(contact_id=cid, name="Augusta Ada King", language="nb",
                    timezone="Europe/Oslo", phone="+4722334455", segments={"region": "emea"})
    got = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                        Trigger("onboarding", person, "generic", event_id="g1"), NOW,
                        reporting=REPORTING)
    row = store.send_by_key(got.key)
    assert row is not None
    assert (row.first_name, row.language, row.timezone, row.phone, row.segments) == (
        "Augusta", "nb", "Europe/Oslo", "+4722334455", {"region": "emea"})


@pytest.mark.parametrize(("person", "detail"), [
    (Person(), "the person needs a CRM contact id or an e-mail address"),
    (Person(contact_id="1", segments={"plan": "gold"}),
     "segments: 'plan' is not a configured segment; expected one of: region"),
    (Person(contact_id="1", timezone="Mars/Olympus"),
     "timezone: 'Mars/Olympus' is not an IANA time zone such as \"Europe/Oslo\""),
    (Person(contact_id="1", phone="22334455"),
     "phone: expected an E.164 number such as +4722334455"),
    (Person(email="not-an-address"), "email: not an e-mail address"),
])
def test_malformed_people_are_refused_with_the_field_named(
        store: Store, hubspot: HubSpotAdapter, person: Person, detail: str) -> None:
    """BadTrigger before any CRM call, its message naming the field."""
    with pytest.raises(BadTrigger) as caught:
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                      Trigger("onboarding", person, "generic", event_id="x"), NOW,
                      reporting=REPORTING)
    assert (caught.value.detail, hubspot.call_count()) == (detail, 0)


def test_bad_reference_and_ticket_are_refused(store: Store, hubspot: HubSpotAdapter) -> None:
    with pytest.raises(BadTrigger) as ref:
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                      hs_trigger("1", reference="deal 123"), NOW)
    with pytest.raises(BadTrigger) as ticket:
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger("1", ticket_id="x1"),
                      NOW)
    assert (ref.value.detail, ticket.value.detail) == (
        "reference: expected kind:id such as \"deal:123\" or \"order:A-17\"",
        "ticket: expected the CRM's ticket id (digits)")


def test_zendesk_user_id_resolves_through_zenpy(
        store: Store, zd_state: ZendeskState, zendesk: ZendeskAdapter) -> None:
    """A Zendesk trigger names the requester's user id; the row carries the user's address."""
    uid = zd_state.create_user("lin@example.com", "Lin Chen", locale="en-US",
                               time_zone="Asia/Singapore")
    got = queue_trigger(store, {"zendesk": zendesk}, [ZD_ONBOARD],
                        Trigger("zd-onboarding", Person(contact_id=uid), "zendesk_trigger",
                                event_id="hook1:00000001"), NOW)
    row = store.send_by_key(got.key)
    assert row is not None
    assert (got.key, row.email, row.first_name, row.trigger) == (
        "zd-onboarding:zendesk:zendesk_trigger:hook1:00000001", "lin@example.com", "Lin",
        "zendesk_trigger")


def test_a_future_occurred_at_counts_from_now(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """A sender's clock ahead of ours never delays the survey past its own delay."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    got = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                        hs_trigger(cid, occurred_at=NOW + timedelta(hours=3)), NOW)
    row = store.send_by_key(got.key)
    assert (row and row.closed_at) == NOW


def test_an_email_only_person_is_found_in_hubspot_by_batch_read(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """idProperty=email batch read: any letter case finds the contact; an address HubSpot
    does not know is UnknownPerson."""
    cid = hs_state.create_contact("Ada@Example.com", "Ada", "Doe", "en")
    got = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                        Trigger("onboarding", Person(email="ada@EXAMPLE.com"), "generic",
                                event_id="m1"), NOW)
    row = store.send_by_key(got.key)
    assert (got.status, got.from_store, row and row.contact_id) == ("queued", False, cid)
    with pytest.raises(UnknownPerson) as caught:
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                      Trigger("onboarding", Person(email="nobody@example.com"), "generic",
                              event_id="m2"), NOW)
    assert caught.value.detail == "source 'hubspot' has no contact with that e-mail address"


def test_an_email_only_person_is_found_in_zendesk_by_user_search(
        store: Store, zd_state: ZendeskState, zendesk: ZendeskAdapter) -> None:
    """search export type:user email:...; an unknown address is UnknownPerson."""
    uid = zd_state.create_user("lin@example.com", "Lin Chen")
    got = queue_trigger(store, {"zendesk": zendesk}, [ZD_ONBOARD],
                        Trigger("zd-onboarding", Person(email="Lin@example.com"), "generic",
                                event_id="m1"), NOW)
    row = store.send_by_key(got.key)
    assert (got.status, row and row.contact_id) == ("queued", uid)
    with pytest.raises(UnknownPerson):
        queue_trigger(store, {"zendesk": zendesk}, [ZD_ONBOARD],
                      Trigger("zd-onboarding", Person(email="x@example.com"), "generic",
                              event_id="m2"), NOW)


def test_a_route_s_source_limits_the_programs(store: Store, hubspot: HubSpotAdapter) -> None:
    """A Zendesk webhook cannot name a HubSpot program: its contact ids are Zendesk's."""
    with pytest.raises(UnknownProgram) as caught:
        queue_trigger(store, {"hubspot": hubspot}, [*PROGRAMS, ZD_ONBOARD],
                      hs_trigger("1"), NOW, source="zendesk")
    assert caught.value.detail == ("no program 'onboarding' reads source 'zendesk'; "
                                   "expected one of: zd-onboarding")


def test_racing_deliveries_of_one_event_queue_one_row(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """Eight threads (two replicas, a CRM retrying early) queue the same event at once:
    exactly one 'queued', the others 'duplicate' with the same send id; one row."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    barrier = threading.Barrier(8)

    def deliver(_: int) -> tuple[str, int | None]:
        barrier.wait()
        got = queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger(cid, "race"), NOW)
        return got.status, got.send_id

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(deliver, range(8)))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == ["duplicate"] * 7 + ["queued"]
    assert len({send_id for _, send_id in outcomes}) == 1
    assert len(store.due_sends_until(NOW + timedelta(days=1))) == 1


def test_a_bulk_send_reads_unknown_people_in_one_batch_and_reports_each_row(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """Three people by e-mail, one the CRM lacks, one unknown program, one malformed: one
    contacts batch read (idProperty=email) for all, each row's outcome in order."""
    for name in ("ana", "bo", "cy"):
        hs_state.create_contact(f"{name}@example.com", name.title(), "Doe", "en")
    rows = [Trigger("onboarding", Person(email=f"{n}@example.com"), "csv")
            for n in ("ana", "bo", "cy", "dee")]
    rows += [Trigger("nps", Person(email="ana@example.com"), "csv"),
             Trigger("onboarding", Person(email="not an address"), "csv")]
    outcomes = queue_triggers(store, {"hubspot": hubspot}, PROGRAMS, rows, NOW)
    assert [o.status if isinstance(o, Queued) else type(o).__name__ for o in outcomes] == [
        "queued", "queued", "queued", "UnknownPerson", "UnknownProgram", "BadTrigger"]
    assert hubspot.calls_by_endpoint() == {"contacts_read": 1}


def test_status_counts_the_surveys_each_trigger_kind_queued(
        store: Store, hs_state: HubSpotState, hubspot: HubSpotAdapter) -> None:
    """`triggered.<kind>` in Store.counts (closedloop status), skipped rows included."""
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    nomail = hs_state.create_contact(None, "No", "Mail", "en")
    for person, event in ((cid, "a"), (nomail, "b")):
        queue_trigger(store, {"hubspot": hubspot}, PROGRAMS, hs_trigger(person, event), NOW)
    queue_trigger(store, {"hubspot": hubspot}, PROGRAMS,
                  Trigger("onboarding", Person(contact_id=cid), "manual"), NOW)
    counts = store.counts(NOW)
    assert {k: v for k, v in counts.items() if k.startswith("triggered.")} == {
        "triggered.hubspot_workflow": 2, "triggered.manual": 1}


def test_the_longest_key_still_fits_the_outbox_column(
        store: Store, hs_state: HubSpotState, hs_sandbox: HubSpotSandbox) -> None:
    """A 63-character program on a 60-character source, a 123-character reference and no
    event id: the person, subject and day are hashed so the key stays within 255 characters
    (PostgreSQL refuses a longer one), and the same send again is still a duplicate."""
    name = "s" * 60
    adapter = HubSpotAdapter(name, TOKEN, hs_sandbox.url, retry=RetryPolicy(max_attempts=1),
                             timeout=(2, 5))
    cid = hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")
    long_program = Program("p" * 63, SurveyType.CES, name, timedelta(0), "Acme",
                           trigger="event")
    manual = Trigger("p" * 63, Person(contact_id=cid), "manual",
                     reference="k" * 32 + ":" + "v" * 90)
    first = queue_trigger(store, {name: adapter}, [long_program], manual, NOW)
    again = queue_trigger(store, {name: adapter}, [long_program], manual, NOW)
    assert (first.status, again.status, len(first.key) <= 255) == ("queued", "duplicate", True)
