"""The write-back job against the real sandboxes: prefixes, hooks, preferences, forgets.

Real store (SQLite and PostgreSQL), real adapters (hubspot-api-client, zenpy) over HTTP to
the sandbox CRMs on 127.0.0.1; the clock is passed in, as the scheduler would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from closedloop.daemon.jobs.writeback import LEASE, write_back
from closedloop.daemon.jobs.writeback_plan import coalesce, note_key, plan_hooks, winners
from closedloop.daemon.store import NewSend, Store, WriteBackRecord
from closedloop.daemon.store.answers import HOOK_SETTLE
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.mappings import CrmMapping, load_mapping

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TOKEN = "wb-token"
NOTES = "POST /crm/v3/objects/notes/batch/create"
PROGRAMS = [
    Program(name="nps-core", type=SurveyType.NPS, source="hubspot", delay=timedelta(0),
            company="Acme"),
    Program(name="nps-pro", type=SurveyType.NPS, source="hubspot", delay=timedelta(0),
            company="Acme", prefix="cl_nps_pro"),
    Program(name="support-csat", type=SurveyType.CSAT, source="hubspot", delay=timedelta(0),
            company="Acme"),
]


def _policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=1, max_delay=1.0, base=0.01, cap=0.01, sleep=lambda s: None)


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]]:
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0, port=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, retry=_policy(),
                                 timeout=(2, 5))
        mapping = load_mapping("hubspot", programs=PROGRAMS)
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        sandbox.reset_calls()
        yield state, sandbox, adapter, mapping


def _sent(store: Store, key: str, program: str, survey: str, contact: str,
          ticket: str | None = None, at: datetime = T0) -> int:
    store.add_sends([NewSend(idem_key=key, program=program, survey_type=survey,
                             source="hubspot",
                             contact_id=contact, due_at=at, created_at=at, ticket_id=ticket,
                             email=f"{contact}@example.com")])
    [send] = store.claim_due_sends(at, 1, timedelta(minutes=5))
    assert store.begin_sending(send.id, at)
    store.mark_sent(send.id, at, f"<{key}@x>")
    return send.id


def _csat_answered(store: Store, state: HubSpotState, name: str, score: int,
                   at: datetime) -> tuple[str, str, int]:
    """`name`'s ticket closed an hour before T0, its CSAT survey sent and answered `score`
    at `at`: (contact, ticket, send id)."""
    contact = state.create_contact(f"{name}@example.com", name.title(), "Doe")
    ticket = state.create_ticket(f"{name.title()}'s printer", contact)
    state.close_ticket(ticket, at=T0 - timedelta(hours=1))
    send = _sent(store, name, "support-csat", "csat", contact, ticket)
    category = {1: "unsatisfied", 2: "unsatisfied", 3: "neutral"}.get(score, "satisfied")
    store.record_response(send, score, category, at)
    return contact, ticket, send


def _props(state: HubSpotState, contact: str) -> dict[str, str]:
    values = state.contact(contact)["properties"]
    return {k: str(v) for k, v in values.items() if k.startswith("cl_") and v not in (None, "")}


def _shared_ticket(state: HubSpotState) -> tuple[str, str, str]:
    """Eve's ticket, Al on it too, closed an hour before T0: (eve, al, ticket)."""
    first = state.create_contact("eve@example.com", "Eve", "Doe")
    second = state.create_contact("al@example.com", "Al", "Doe")
    ticket = state.create_ticket("Printer on fire", first)
    state.associate(ticket, second)
    state.close_ticket(ticket, at=T0 - timedelta(hours=1))
    return first, second, ticket


def _refuse_next_settle(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses the next write that settles rows (done), once."""
    settle = store.mark_writebacks_done

    def refused(ids: list[int], *args: object, **kwargs: object) -> int:
        if not ids:
            return settle(ids, *args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(store, "mark_writebacks_done", settle)  # once
        raise OperationalError("UPDATE writebacks", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "mark_writebacks_done", refused)


def test_two_nps_programs_keep_separate_values_on_one_contact(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """Latest answer wins per prefix: nps-core's 9 and nps-pro's 3 both stay on the record,
    in one batch call; the shared properties name the survey answered last."""
    state, sandbox, adapter, mapping = hubspot
    contact = state.create_contact("ada@example.com", "Ada", "Doe")
    core = _sent(store, "core", "nps-core", "nps", contact)
    pro = _sent(store, "pro", "nps-pro", "nps", contact)
    store.record_response(core, 9, "promoter", T0 + timedelta(minutes=1))
    store.record_response(pro, 3, "detractor", T0 + timedelta(minutes=2))
    result = write_back(store, adapter, mapping, T0 + timedelta(minutes=3))
    assert (result.contacts, result.rejected) == (1, 0)
    props = _props(state, contact)
    assert (props["cl_nps_last_rating"], props["cl_nps_last_category"]) == ("9", "promoter")
    assert (props["cl_nps_pro_last_rating"], props["cl_nps_pro_last_category"]) == (
        "3", "detractor")
    assert "cl_nps_pro_last_sent_at" in props
    assert sandbox.calls["POST /crm/v3/objects/contacts/batch/update"] == 1


def test_coalesce_supersedes_only_within_a_prefix() -> None:
    """An older send's late answer loses to a newer send of the same prefix, not of another."""
    mapping = load_mapping("hubspot", programs=PROGRAMS)
    latest = winners({("c", "nps", "nps-core"): (T0, 1), ("c", "nps", "nps-pro"): (T0, 2),
                      ("c", "nps", "gone"): (T0 + timedelta(hours=1), 3)}, mapping)
    assert latest == {("c", "cl_nps"): 3, ("c", "cl_nps_pro"): 2}

    def row(i: int, send: int, program: str, score: int) -> WriteBackRecord:
        return WriteBackRecord(id=i, source="hubspot", contact_id="c", send_id=send,
                               kind="answer", data={"survey_type": "nps", "program": program,
                                                    "score": score},
                               created_at=T0 + timedelta(minutes=i), attempts=0)

    plan = coalesce([row(1, 1, "nps-core", 10), row(2, 2, "nps-pro", 0),
                     row(3, 3, "gone", 5)], mapping, latest)
    assert plan.properties["c"]["cl_nps_last_rating"] == "5"  # send 1 was superseded by 3
    assert plan.properties["c"]["cl_nps_pro_last_rating"] == "0"


def test_hubspot_hook_is_one_note_with_score_and_comment_after_settling(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """Click then comment: nothing on the ticket until HOOK_SETTLE has passed, then one note
    carrying both; a later run writes nothing more."""
    state, sandbox, adapter, mapping = hubspot
    _, ticket, send = _csat_answered(store, state, "eve", 2, T0 + timedelta(minutes=1))
    store.record_comment(send, "Nobody called <back>", T0 + timedelta(minutes=2))

    early = write_back(store, adapter, mapping, T0 + timedelta(minutes=3))
    assert (early.contacts, early.tickets) == (1, 0)
    assert state.notes(ticket_id=ticket) == []
    assert store.counts()["hooks.pending"] == 1

    settled = write_back(store, adapter, mapping, T0 + timedelta(minutes=2) + HOOK_SETTLE)
    assert settled.tickets == 1
    [note] = state.notes(ticket_id=ticket)
    assert "CSAT answer 2/5 (unsatisfied), program support-csat." in note["body"]
    assert "Nobody called &lt;back&gt;" in note["body"]
    assert write_back(store, adapter, mapping, T0 + timedelta(hours=1)).tickets == 0
    assert (store.counts()["hooks.done"], sandbox.calls[NOTES]) == (1, 1)


def test_a_hook_note_goes_on_the_contacts_who_answered_without_reading_the_ticket(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """Two people surveyed about one ticket (two programs) both answer: one note on the
    ticket, linked to both of them and no one else (not the ticket's other contact), and
    no associations read (the surveys' contacts are known: the read cost a call a run)."""
    state, sandbox, adapter, mapping = hubspot
    first = state.create_contact("eve@example.com", "Eve", "Doe")
    ticket = state.create_ticket("Printer on fire", first)
    bystander = state.create_contact("bo@example.com", "Bo", "Doe")
    second = state.create_contact("al@example.com", "Al", "Doe")
    state.associate(ticket, bystander)
    state.associate(ticket, second)
    state.close_ticket(ticket, at=T0 - timedelta(hours=1))
    csat = _sent(store, "csat", "support-csat", "csat", first, ticket)
    nps = _sent(store, "nps", "nps-core", "nps", second, ticket)
    store.record_response(csat, 4, "satisfied", T0 + timedelta(minutes=1))
    store.record_response(nps, 9, "promoter", T0 + timedelta(minutes=1))
    sandbox.reset_calls()

    assert write_back(store, adapter, mapping, T0 + timedelta(minutes=1) + HOOK_SETTLE
                      ).tickets == 1

    [note] = state.notes(ticket_id=ticket)
    assert sorted(note["contact_ids"]) == sorted([first, second])
    assert state.notes(contact_id=bystander) == []
    assert (sandbox.calls["POST /crm/v4/associations/tickets/contacts/batch/read"],
            sandbox.calls[NOTES]) == (0, 1)


def test_a_note_whose_answering_contact_was_deleted_still_lands_on_the_ticket(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """The answering contact is deleted between the answer and the hook: HubSpot refuses a
    note linked to it (400), so the note goes again linked to the ticket alone; the hook is
    done, not rejected (the answer is not lost from the ticket)."""
    state, sandbox, adapter, mapping = hubspot
    contact, ticket, _ = _csat_answered(store, state, "eve", 2, T0)
    state.delete_contact(contact)
    sandbox.reset_calls()

    result = write_back(store, adapter, mapping, T0 + HOOK_SETTLE, skip_kinds=("answer",
                                                                               "sent"))

    assert (result.tickets, result.rejected) == (1, 0)
    [note] = state.notes(ticket_id=ticket)
    assert (note["contact_ids"], sandbox.calls[NOTES]) == ([], 2)
    assert (store.counts()["hooks.done"], store.counts()["hooks.rejected"]) == (1, 0)


def test_a_writer_killed_after_its_note_landed_leaves_one_note(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """The crash window of a hook: a writer claims the row, its note lands on HubSpot, and it
    dies before settling (kill -9). While the lease runs the row counts as `hooks.held`
    (not at the lease's end); the next writer then treats the outcome as unknown (looks for
    the note's marker first, the safer of the two outcomes) and creates no second note."""
    state, sandbox, adapter, mapping = hubspot
    _, ticket, _ = _csat_answered(store, state, "eve", 2, T0)
    at = T0 + HOOK_SETTLE
    assert write_back(store, adapter, mapping, at, skip_kinds=("hook",)).contacts == 1

    claim = store.claim_writebacks("hubspot", at, 10, LEASE)
    assert [r.kind for r in claim.rows] == ["hook"]
    adapter.update_tickets(plan_hooks(claim.rows, mapping).updates)  # then killed
    assert len(state.notes(ticket_id=ticket)) == 1
    assert store.counts(at + LEASE - timedelta(seconds=1)).get("hooks.held") == 1
    assert "hooks.held" not in store.counts(at + LEASE)

    assert write_back(store, adapter, mapping, at + LEASE).tickets == 1
    assert len(state.notes(ticket_id=ticket)) == 1
    assert (store.counts(at + LEASE)["hooks.done"], sandbox.calls[NOTES]) == (1, 1)


def test_plan_hooks_sends_tried_rows_alone_and_keeps_their_marker() -> None:
    """Ticket 9 has a tried row (1) and a newer one (2): only row 1 goes, under the marker
    it had alone, checked first; row 2 waits. Ticket 8's untried rows go together as
    usual. Both sides: tried by attempts and by a lapsed claim; untried waits only on a
    ticket with a tried row."""
    mapping = load_mapping("hubspot", programs=PROGRAMS)

    def row(i: int, ticket: str, attempts: int = 0, lapsed: bool = False) -> WriteBackRecord:
        return WriteBackRecord(id=i, source="hubspot", contact_id=f"c{i}", send_id=i,
                               kind="hook", data={"survey_type": "csat", "score": 4,
                                                  "program": "support-csat",
                                                  "category": "satisfied",
                                                  "ticket_id": ticket},
                               created_at=T0 + timedelta(minutes=i), attempts=attempts,
                               lapsed=lapsed)

    for tried in (row(1, "9", attempts=1), row(1, "9", lapsed=True)):
        plan = plan_hooks([tried, row(2, "9"), row(3, "8"), row(4, "8")], mapping)
        assert [(u.ticket_id, u.key, u.check_first) for u in plan.updates] == [
            ("9", "cl-hook-1", True), ("8", note_key([3, 4]), False)]
        assert (plan.waiting, plan.rows_of) == ([2], {"9": [1], "8": [3, 4]})
    plan = plan_hooks([row(1, "9"), row(2, "9")], mapping)
    assert ([u.key for u in plan.updates], plan.waiting) == ([note_key([1, 2])], [])


def test_a_note_that_may_have_landed_goes_again_alone_not_with_newer_answers(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """A writer's note for two answers on one ticket lands and the writer dies; a third
    answer on that ticket is queued before the lease ends. The next run writes the two
    tried rows alone (same rows, same marker: found, no second copy) and the newer answer
    waits one run for a note of its own. Before, the three rows made a new marker and the
    first two answers landed on the ticket twice."""
    state, sandbox, adapter, mapping = hubspot
    first, second, ticket = _shared_ticket(state)
    csat = _sent(store, "csat", "support-csat", "csat", first, ticket)
    nps = _sent(store, "nps", "nps-core", "nps", second, ticket)
    store.record_response(csat, 4, "satisfied", T0)
    store.record_response(nps, 9, "promoter", T0)
    at = T0 + HOOK_SETTLE
    assert write_back(store, adapter, mapping, at, skip_kinds=("hook",)).contacts == 2
    claim = store.claim_writebacks("hubspot", at, 10, LEASE)
    assert sorted(r.kind for r in claim.rows) == ["hook", "hook"]
    adapter.update_tickets(plan_hooks(claim.rows, mapping).updates)  # then killed
    pro = _sent(store, "pro", "nps-pro", "nps", first, ticket)
    store.record_response(pro, 2, "detractor", at + timedelta(minutes=1))
    later = at + timedelta(minutes=1) + HOOK_SETTLE  # the lease has ended too

    again = write_back(store, adapter, mapping, later)
    assert (again.tickets, len(state.notes(ticket_id=ticket))) == (1, 1)
    assert store.counts(later)["hooks.pending"] == 1
    assert write_back(store, adapter, mapping, later + timedelta(minutes=1)).tickets == 1

    bodies = [n["body"] for n in state.notes(ticket_id=ticket)]
    assert len(bodies) == 2
    assert [sum(b.count(f"program {p}.") for b in bodies)
            for p in ("support-csat", "nps-core", "nps-pro")] == [1, 1, 1]
    assert (store.counts()["hooks.done"], sandbox.calls[NOTES]) == (3, 2)


def test_rows_waiting_behind_a_retried_note_are_not_lapsed_with_it(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A tried hook row goes again alone while a newer answer on its ticket waits; its note
    lands and the round then fails to settle it. The waiting row was handed back before the
    CRM call, so only the tried row comes back possibly written: the next run finds its note
    by the same marker, and the newer answer gets a note of its own (each answer once).
    Before, both came back lapsed, went together under a new marker, and the first answer
    landed twice."""
    state, _sandbox, adapter, mapping = hubspot
    first, second, ticket = _shared_ticket(state)
    csat = _sent(store, "csat", "support-csat", "csat", first, ticket)
    store.record_response(csat, 4, "satisfied", T0)
    at = T0 + HOOK_SETTLE
    assert write_back(store, adapter, mapping, at, skip_kinds=("hook",)).contacts == 1
    assert len(store.claim_writebacks("hubspot", at, 10, LEASE).rows) == 1  # then killed
    nps = _sent(store, "nps", "nps-core", "nps", second, ticket)
    store.record_response(nps, 9, "promoter", at)
    later = at + LEASE + HOOK_SETTLE
    assert write_back(store, adapter, mapping, later, skip_kinds=("hook",)).contacts == 1
    _refuse_next_settle(store, monkeypatch)
    with pytest.raises(OperationalError):
        write_back(store, adapter, mapping, later)
    assert len(state.notes(ticket_id=ticket)) == 1  # the first answer's, unsettled

    for minutes in (1, 2):
        write_back(store, adapter, mapping, later + timedelta(minutes=minutes))
    bodies = [n["body"] for n in state.notes(ticket_id=ticket)]
    assert [sum(b.count(f"program {p}.") for b in bodies)
            for p in ("support-csat", "nps-core")] == [1, 1]
    assert (len(bodies), store.counts()["hooks.done"]) == (2, 2)


def test_a_store_error_after_a_note_landed_leaves_one_note(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same window without a kill: the note lands, then settling it fails (the database
    refuses the write) and the job raises; the claim's release still works. The row comes
    back possibly written (`lapsed`), so the next run looks for the note's marker and adds
    no second note. Before, the release handed it back as new and a second note went."""
    state, sandbox, adapter, mapping = hubspot
    _, ticket, _ = _csat_answered(store, state, "eve", 2, T0)
    at = T0 + HOOK_SETTLE
    assert write_back(store, adapter, mapping, at, skip_kinds=("hook",)).contacts == 1
    _refuse_next_settle(store, monkeypatch)
    with pytest.raises(OperationalError):
        write_back(store, adapter, mapping, at)
    assert len(state.notes(ticket_id=ticket)) == 1
    assert "hooks.held" not in store.counts(at)  # handed back: the next run takes it

    assert write_back(store, adapter, mapping, at + timedelta(minutes=1)).tickets == 1
    assert len(state.notes(ticket_id=ticket)) == 1
    assert (store.counts()["hooks.done"], sandbox.calls[NOTES]) == (1, 1)


def test_hook_rows_retry_after_a_429_and_a_refused_note_is_rejected(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """Same handling as contact writes: a 429 defers (nothing lost), a 400 rejects (after
    one try without the contact link, which a deleted contact would explain)."""
    state, sandbox, adapter, mapping = hubspot
    contact, ticket, _ = _csat_answered(store, state, "kim", 5, T0)
    later = T0 + HOOK_SETTLE
    sandbox.fail_next(1, 429, path_prefix="/crm/v3/objects/notes", retry_after=30)
    deferred = write_back(store, adapter, mapping, later)
    assert (deferred.deferred, deferred.tickets, state.notes(ticket_id=ticket)) == (1, 0, [])
    assert write_back(store, adapter, mapping, later + timedelta(seconds=31)).tickets == 1
    assert len(state.notes(ticket_id=ticket)) == 1

    other = _sent(store, "k2", "support-csat", "csat", contact, ticket, at=T0 + timedelta(1))
    store.record_response(other, 1, "unsatisfied", T0 + timedelta(1))
    # refused with its contact link, then again linked to the ticket alone: rejected
    sandbox.fail_next(2, 400, path_prefix="/crm/v3/objects/notes")
    refused = write_back(store, adapter, mapping, T0 + timedelta(1) + HOOK_SETTLE)
    assert (refused.rejected, store.counts()["hooks.rejected"]) == (1, 1)


def test_preference_and_forget_rows_reach_the_contact(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]
) -> None:
    """An unsubscribe sets cl_feedback_unsubscribed; a forget then blanks every property."""
    state, _, adapter, mapping = hubspot
    contact = state.create_contact("max@example.com", "Max", "Doe")
    send = _sent(store, "m", "nps-pro", "nps", contact)
    store.record_response(send, 8, "passive", T0)
    store.record_comment(send, "ok", T0)
    store.record_preference(send, "unsubscribe", None, T0 + timedelta(minutes=1))
    write_back(store, adapter, mapping, T0 + timedelta(minutes=2))
    props = _props(state, contact)
    assert (props["cl_feedback_unsubscribed"], props["cl_nps_pro_last_comment"]) == ("true", "ok")

    store.forget(f"{contact}@example.com", T0 + timedelta(days=1))
    result = write_back(store, adapter, mapping, T0 + timedelta(days=1))
    assert (result.contacts, result.rejected) == (1, 0)
    assert _props(state, contact) == {}


def test_zendesk_hook_tags_the_ticket_and_adds_a_private_note(store: Store) -> None:
    """Zendesk: the category's tag and an internal comment land on the solved ticket."""
    state = ZendeskState()
    with ZendeskSandbox(state, rate_limit_per_minute=0, incremental_per_minute=0,
                        search_export_per_minute=0, port=0) as sandbox, \
            ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                           token=sandbox.token, base_url=sandbox.url, retry=_policy(),
                           timeout=(2, 5), job_poll_interval=0.05, job_timeout=5.0) as adapter:
        mapping = load_mapping("zendesk")
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        user = state.create_user("zoe@example.com", "Zoe Doe")
        ticket = state.create_ticket("Broken login", user, tags=["vip"])
        state.solve_ticket(ticket, at=T0 - timedelta(hours=1))
        store.add_sends([NewSend(idem_key="z", program="support-csat", survey_type="csat",
                                 source="zendesk", contact_id=user, due_at=T0, created_at=T0,
                                 ticket_id=ticket, email="zoe@example.com")])
        [send] = store.claim_due_sends(T0, 1, timedelta(minutes=5))
        assert store.begin_sending(send.id, T0)
        store.mark_sent(send.id, T0, "<z@x>")
        store.record_response(send.id, 1, "unsatisfied", T0)
        store.record_response(send.id, 2, "unsatisfied", T0 + timedelta(minutes=1))
        result = write_back(store, adapter, mapping, T0 + timedelta(minutes=1) + HOOK_SETTLE)
        assert (result.contacts, result.tickets, result.rejected) == (1, 1, 0)
        assert state.ticket(ticket)["tags"] == ["vip", "closedloop_csat_bad"]
        private = [c["body"] for c in state.comments(ticket) if not c["public"]]
        assert private == ["ClosedLoop: CSAT answer 2/5 (unsatisfied), program support-csat.\n"
                           "No comment.\n\n[cl-hook-3]"]  # the hook row's marker
        assert state.user(user)["user_fields"]["cl_csat_last_rating"] == 2
