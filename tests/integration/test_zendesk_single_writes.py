"""Small Zendesk writes (SINGLE_MAX records or fewer) go through the single-record PUTs:
no update_many job, no job-status read, and a record counts as written only on Zendesk's
200 for it. Over HTTP against the sandbox (real zenpy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.base import ContactUpdate, PropertySpec, TicketUpdate
from closedloop.integration.errors import PartialWrite, TransientError
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ENDPOINTS, ZendeskAdapter
from closedloop.integration.zendesk._single import SINGLE_MAX
from closedloop.integration.zendesk._ticket_notes import CLOSED_REASON

SPECS = [PropertySpec("cl_csat_rating", "Last CSAT rating", type="integer",
                      field_type="integer")]
T0 = datetime(2026, 4, 30, 9, 0, tzinfo=UTC)


def _users(state: ZendeskState, n: int) -> list[str]:
    return [state.create_user(f"s{i}@example.com", f"S{i} Doe") for i in range(n)]


def _solved(state: ZendeskState, n: int) -> list[str]:
    out = []
    for i, uid in enumerate(_users(state, n)):
        tid = state.create_ticket(f"t{i}", uid, created_at=T0 + timedelta(minutes=i))
        state.solve_ticket(tid, at=T0 + timedelta(minutes=i, seconds=30))
        out.append(tid)
    return out


@pytest.fixture
def zd(zd_adapter: ZendeskAdapter) -> ZendeskAdapter:
    zd_adapter.ensure_properties("g", "G", SPECS)
    return zd_adapter


def test_one_user_is_one_put_and_no_job(zd: ZendeskAdapter, zd_state: ZendeskState,
                                        zd_sandbox: ZendeskSandbox) -> None:
    """One answer's contact: a single PUT users/{id}.json writes it; no update_many job
    and so no job-status read (before: 1 submit + 2 status reads)."""
    (uid,) = _users(zd_state, 1)
    zd_sandbox.reset_calls()

    result = zd.write_contacts([ContactUpdate(uid, {"cl_csat_rating": "4"})])

    assert (result.written, result.rejected) == ([uid], {})
    assert zd_state.user(uid)["user_fields"]["cl_csat_rating"] == 4
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["user_update"]: 1}
    assert zd.calls_by_endpoint()["user_update"] == 1  # counted under its own name


def test_up_to_single_max_put_one_by_one_then_a_job(zd: ZendeskAdapter, zd_state: ZendeskState,
                                                    zd_sandbox: ZendeskSandbox) -> None:
    """SINGLE_MAX (2) users are SINGLE_MAX PUTs; one more and it is one update_many job
    followed to its end (the sandbox answers "working" once, then "completed")."""
    ids = _users(zd_state, SINGLE_MAX + 1)
    zd_sandbox.reset_calls()
    two = zd.write_contacts([ContactUpdate(u, {"cl_csat_rating": "5"}) for u in ids[:2]])
    assert (two.written, SINGLE_MAX) == (ids[:2], 2)
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["user_update"]: 2}

    zd_sandbox.reset_calls()
    three = zd.write_contacts([ContactUpdate(u, {"cl_csat_rating": "3"}) for u in ids])
    assert three.written == ids
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["users_update_many"]: 1,
                                           ENDPOINTS["job_statuses_show_many"]: 2}
    assert [zd_state.user(u)["user_fields"]["cl_csat_rating"] for u in ids] == [3, 3, 3]


def test_a_refused_user_is_refused_alone(zd: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """A value Zendesk refuses (422) and an unknown user (404) are refused with Zendesk's
    words; the refusal costs no other record its write."""
    (good,) = _users(zd_state, 1)
    bad = zd.write_contacts([ContactUpdate("999999", {"cl_csat_rating": "4"}),
                             ContactUpdate(good, {"cl_csat_rating": "2"})])
    assert bad.written == [good]
    assert list(bad.rejected) == ["999999"]
    assert "404" in bad.rejected["999999"]
    wrong = zd.write_contacts([ContactUpdate(good, {"cl_csat_rating": "four"})])
    assert (wrong.written, list(wrong.rejected)) == ([], [good])
    assert "is not a number" in wrong.rejected[good]
    assert zd_state.user(good)["user_fields"]["cl_csat_rating"] == 2


def test_a_failure_before_anything_landed_is_raised_as_it_is(
        zd: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """The first PUT fails past the retry budget (4 × 503): nothing is known to have landed,
    so the TransientError itself reaches the caller, which retries every record."""
    a, b = _users(zd_state, 2)
    zd_sandbox.fail_next(4, status=503, path_prefix="/api/v2/users/")
    with pytest.raises(TransientError) as raised:
        zd.write_contacts([ContactUpdate(a, {"cl_csat_rating": "1"}),
                           ContactUpdate(b, {"cl_csat_rating": "1"})])
    assert not isinstance(raised.value, PartialWrite)
    assert [zd_state.user(u)["user_fields"].get("cl_csat_rating") for u in (a, b)] == [
        None, None]


def test_a_failure_after_a_write_is_a_partial_write(zd: ZendeskAdapter, zd_state: ZendeskState,
                                                    zd_sandbox: ZendeskSandbox) -> None:
    """The first user is written (its 200), then the second PUT fails past the budget: a
    PartialWrite says the first is written and only the second is pending (never re-sent
    for the first)."""
    a, b = _users(zd_state, 2)
    zd_sandbox.fail_next(4, status=503, path_prefix=f"/api/v2/users/{b}")
    with pytest.raises(PartialWrite) as raised:
        zd.write_contacts([ContactUpdate(a, {"cl_csat_rating": "5"}),
                           ContactUpdate(b, {"cl_csat_rating": "5"})])
    assert (raised.value.written, raised.value.rejected, raised.value.pending) == ([a], {}, [b])
    assert zd_state.user(a)["user_fields"]["cl_csat_rating"] == 5


def test_one_ticket_hook_is_one_put_and_closed_is_refused(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """A solved ticket's tags and private note: one PUT tickets/{id}.json; a closed ticket
    is refused with what to do about it; no job, no status read."""
    solved, closed = _solved(zd_state, 2)
    zd_state.close_ticket(closed)
    zd_sandbox.reset_calls()

    result = zd_adapter.update_tickets([
        TicketUpdate(solved, add_tags=("cl_detractor",), note="CSAT 1: slow", key="7"),
        TicketUpdate(closed, add_tags=("cl_detractor",))])

    assert (result.written, result.rejected) == ([solved], {closed: CLOSED_REASON})
    assert "cl_detractor" in zd_state.ticket(solved)["tags"]
    note = zd_state.comments(solved)[-1]
    assert (note["body"], note["public"]) == ("CSAT 1: slow\n\n[7]", False)
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["ticket_update"]: 2}


def test_a_note_whose_answer_was_lost_is_not_added_twice(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """Zendesk adds the note but its answer is lost (504): the PUT may have landed, so it is
    not retried in the call (one request) and the write is not reported done; the caller's
    retry (check_first) finds the note by its marker and sends nothing: one note."""
    (tid,) = _solved(zd_state, 1)
    zd_sandbox.reset_calls()
    path = f"/api/v2/tickets/{tid}.json"
    zd_sandbox.set_faults(FaultRates(lost=1.0, paths=(path,), lost_paths=(path,)))
    with pytest.raises(TransientError):
        zd_adapter.update_tickets([TicketUpdate(tid, note="CSAT 2", key="9")])
    zd_sandbox.set_faults(None)
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["ticket_update"]: 1}

    again = zd_adapter.update_tickets([TicketUpdate(tid, note="CSAT 2", key="9",
                                                    check_first=True)])
    assert again.written == [tid]
    assert [c["body"] for c in zd_state.comments(tid)].count("CSAT 2\n\n[9]") == 1
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["ticket_update"]: 1,
                                           ENDPOINTS["ticket_comments"]: 1}
