"""HubSpotAdapter.reopened() and update_tickets() over HTTP against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from closedloop.integration.base import TicketUpdate
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TICKETS_READ = "POST /crm/v3/objects/tickets/batch/read"
NOTES_CREATE = "POST /crm/v3/objects/notes/batch/create"
ASSOCIATIONS = "POST /crm/v4/associations/tickets/contacts/batch/read"


def _closed(state: HubSpotState, n: int, *, contacts: bool = True) -> list[str]:
    out = []
    for i in range(n):
        cid = state.create_contact(f"c{i}@example.com", "C", str(i)) if contacts else None
        out.append(state.create_ticket(f"t{i}", cid, closed_at=NOW - timedelta(hours=1)))
    return out


# ------------------------------------------------------------------------------ reopened
def test_reopened_finds_reopened_and_deleted_in_batches_of_100(
        adapter: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """250 ids (+1 unknown): 3 ticket batch reads and one pipelines read; the reopened,
    the deleted and the unknown ids come back, the still-closed ones do not."""
    ids = _closed(state, 250, contacts=False)
    state.reopen_ticket(ids[3])
    state.reopen_ticket(ids[120])
    state.delete_ticket(ids[7])
    state.delete_ticket(ids[249])
    sandbox.reset_calls()

    gone = adapter.reopened([*ids, "999999"])

    assert gone == {ids[3], ids[120], ids[7], ids[249], "999999"}
    assert adapter.calls_by_endpoint() == {"tickets_read": 3, "pipelines": 1}
    assert sandbox.calls[TICKETS_READ] == 3


def test_reopened_reuses_the_cached_pipelines(adapter: HubSpotAdapter,
                                              state: HubSpotState) -> None:
    """A second check reads tickets again but not the pipelines; duplicates cost nothing."""
    ids = _closed(state, 3, contacts=False)
    assert adapter.reopened(ids) == set()
    state.reopen_ticket(ids[1])
    assert adapter.reopened([*ids, ids[1]]) == {ids[1]}
    assert adapter.calls_by_endpoint() == {"tickets_read": 2, "pipelines": 1}


def test_reopened_of_nothing_calls_nothing(adapter: HubSpotAdapter) -> None:
    assert adapter.reopened([]) == set()
    assert adapter.call_count() == 0


def test_closed_in_another_pipeline_still_counts_as_closed(adapter: HubSpotAdapter,
                                                           state: HubSpotState) -> None:
    """Closed means CLOSED in the ticket's own pipeline: moved to Billing/Resolved it is
    still closed, moved to Billing/Open it is not."""
    first, second = _closed(state, 2, contacts=False)
    state.tickets[first].props.update(hs_pipeline="5", hs_pipeline_stage="7")
    state.tickets[second].props.update(hs_pipeline="5", hs_pipeline_stage="6")
    assert adapter.reopened([first, second]) == {second}


def test_a_stage_added_after_caching_rereads_the_pipelines(adapter: HubSpotAdapter,
                                                           state: HubSpotState) -> None:
    """A ticket in a stage the cached pipelines lack makes the adapter re-read them once,
    so a newly added CLOSED stage is recognised instead of cancelling the survey."""
    (tid,) = _closed(state, 1, contacts=False)
    assert adapter.reopened([tid]) == set()
    state.pipelines[0]["stages"].append({**state.pipelines[0]["stages"][3], "id": "9",
                                         "label": "Closed (spam)"})
    state.stages["9"] = ("0", "CLOSED")
    state.tickets[tid].props["hs_pipeline_stage"] = "9"

    assert adapter.reopened([tid]) == set()
    assert adapter.calls_by_endpoint()["pipelines"] == 2


def test_reopened_retries_a_429(adapter: HubSpotAdapter, state: HubSpotState,
                                sandbox: HubSpotSandbox, sleeps: list[float]) -> None:
    """The ticket batch read goes through the one retry policy (10 s for the rolling limit)."""
    ids = _closed(state, 2, contacts=False)
    state.reopen_ticket(ids[0])
    sandbox.fail_next(1, 429, path_prefix="/crm/v3/objects/tickets/batch/read")
    assert adapter.reopened(ids) == {ids[0]}
    assert sleeps == [10.0]
    assert adapter.calls_by_endpoint()["tickets_read"] == 2


# -------------------------------------------------------------------------- update_tickets
def test_notes_go_on_the_ticket_and_its_primary_contact(adapter: HubSpotAdapter,
                                                        state: HubSpotState,
                                                        sandbox: HubSpotSandbox) -> None:
    """150 notes: one associations read, two notes batch creates (100 + 50); each note is
    on its ticket (228) and the ticket's first contact (202), stamped with the time."""
    ids = _closed(state, 150)
    other = state.create_contact("second@example.com", "S", "C")
    state.associate(ids[0], other)  # a second contact: the note goes to the first only
    sandbox.reset_calls()

    with time_machine.travel(NOW, tick=False):
        result = adapter.update_tickets([TicketUpdate(t, note=f"NPS {i % 11}")
                                         for i, t in enumerate(ids)])

    assert ids == result.written
    assert result.rejected == {}
    assert (sandbox.calls[ASSOCIATIONS], sandbox.calls[NOTES_CREATE]) == (1, 2)
    (note,) = state.notes(ticket_id=ids[0])
    assert note["contact_ids"] == state.ticket_contacts[ids[0]][:1]
    assert (note["body"], note["timestamp"]) == ("NPS 0", "2026-05-01T12:00:00.000Z")
    assert state.notes(contact_id=other) == []


def test_notes_with_their_answering_contacts_need_no_associations_read(
        adapter: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """Updates that name the contacts whose answers they carry: no associations read, each
    note on its ticket and on exactly those contacts (a second answering contact too, the
    ticket's primary one not when it did not answer); one without falls back to the read."""
    ids = _closed(state, 3)
    answered = state.create_contact("answered@example.com", "A", "C")
    state.associate(ids[0], answered)  # not the primary contact of ids[0]
    second = state.create_contact("second@example.com", "S", "C")
    sandbox.reset_calls()

    adapter.update_tickets([TicketUpdate(ids[0], note="NPS 9", contact_ids=(answered,)),
                            TicketUpdate(ids[1], note="NPS 3", contact_ids=(
                                state.ticket_contacts[ids[1]][0], second))])

    assert (sandbox.calls[ASSOCIATIONS], sandbox.calls[NOTES_CREATE]) == (0, 1)
    assert [n["contact_ids"] for n in state.notes(ticket_id=ids[0])] == [[answered]]
    assert [n["contact_ids"] for n in state.notes(ticket_id=ids[1])] == [
        [state.ticket_contacts[ids[1]][0], second]]

    sandbox.reset_calls()
    adapter.update_tickets([TicketUpdate(ids[2], note="NPS 5", contact_ids=()),
                            TicketUpdate(ids[0], note="NPS 10", contact_ids=(answered,))])
    assert (sandbox.calls[ASSOCIATIONS], sandbox.calls[NOTES_CREATE]) == (1, 1)
    assert [n["contact_ids"] for n in state.notes(ticket_id=ids[2])] == [
        state.ticket_contacts[ids[2]][:1]]


def test_note_text_is_escaped_for_hubspots_html_body(adapter: HubSpotAdapter,
                                                     state: HubSpotState) -> None:
    """hs_note_body is HTML: a customer's markup is shown, not run; line breaks are kept."""
    (tid,) = _closed(state, 1)
    adapter.update_tickets([TicketUpdate(tid, note="<b>slow</b> & late\nrefund?")])
    assert state.notes(ticket_id=tid)[0]["body"] == (
        "&lt;b&gt;slow&lt;/b&gt; &amp; late<br>refund?")


def test_tags_are_ignored_and_count_as_written(adapter: HubSpotAdapter,
                                               state: HubSpotState) -> None:
    """HubSpot tickets have no tags: a tag-only update is a successful no-op (no call)."""
    (tid,) = _closed(state, 1)
    result = adapter.update_tickets([TicketUpdate(tid, add_tags=("cl_detractor",))])
    assert [tid] == result.written
    assert adapter.call_count() == 0
    assert state.notes() == []


def test_a_deleted_ticket_is_rejected_alone(adapter: HubSpotAdapter,
                                            state: HubSpotState) -> None:
    """HubSpot refuses the whole notes batch for one missing ticket; the adapter halves it
    until that ticket stands alone, so the other four get their notes."""
    ids = _closed(state, 5)
    state.delete_ticket(ids[2])

    result = adapter.update_tickets([TicketUpdate(t, note="CSAT 2") for t in ids])

    assert [t for t in ids if t != ids[2]] == result.written
    assert list(result.rejected) == [ids[2]]
    assert "400" in result.rejected[ids[2]]
    assert len(state.notes()) == 4


def test_ticket_without_contact_gets_the_note_alone(adapter: HubSpotAdapter,
                                                    state: HubSpotState) -> None:
    (tid,) = _closed(state, 1, contacts=False)
    assert [tid] == adapter.update_tickets([TicketUpdate(tid, note="CES 6")]).written
    (note,) = state.notes(ticket_id=tid)
    assert note["contact_ids"] == []


def test_the_same_note_twice_is_written_once(adapter: HubSpotAdapter,
                                             state: HubSpotState) -> None:
    """A repeated (ticket, note) in one call makes one note; a different note is another."""
    (tid,) = _closed(state, 1)
    adapter.update_tickets([TicketUpdate(tid, note="NPS 9"), TicketUpdate(tid, note="NPS 9"),
                            TicketUpdate(tid, note="NPS 9 — great support")])
    assert len(state.notes(ticket_id=tid)) == 2


def test_notes_retry_a_5xx(adapter: HubSpotAdapter, state: HubSpotState,
                           sandbox: HubSpotSandbox) -> None:
    """A 503 on notes batch create is retried by the one policy; one note results."""
    (tid,) = _closed(state, 1)
    sandbox.fail_next(1, 503, path_prefix="/crm/v3/objects/notes/batch/create")
    assert [tid] == adapter.update_tickets([TicketUpdate(tid, note="x")]).written
    assert len(state.notes(ticket_id=tid)) == 1
    assert adapter.calls_by_endpoint()["notes_create"] == 2


def test_an_overlong_note_is_cut_to_hubspots_limit(adapter: HubSpotAdapter,
                                                   state: HubSpotState) -> None:
    """A comment beyond 65,536 characters (after escaping) is shortened, not refused."""
    (tid,) = _closed(state, 1)
    assert [tid] == adapter.update_tickets([TicketUpdate(tid, note="&" * 20_000)]).written
    body = state.notes(ticket_id=tid)[0]["body"]
    assert len(body) <= 65_536
    assert body.endswith("&amp;…")
