"""ZendeskAdapter tickets over HTTP against the sandbox (real zenpy): the incremental export
paged and resumed, reopened/deleted tickets, ticket hooks (tags, private note, closed
refusal), and what a 1,000-ticket poll costs in calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.base import TicketPage, TicketUpdate
from closedloop.integration.errors import AuthError, RateLimited
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ENDPOINTS, ZendeskAdapter
from closedloop.integration.zendesk._ticket_notes import CLOSED_REASON

EXPORT = ENDPOINTS["incremental_tickets"]
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def _solved(state: ZendeskState, n: int, *, start: datetime = T0) -> list[str]:
    """n tickets, each with its own requester, solved one minute apart."""
    ids = []
    for i in range(n):
        uid = state.create_user(f"p{i}@example.com", f"P{i} Doe")
        tid = state.create_ticket(f"t{i}", uid, created_at=start + timedelta(minutes=i))
        state.solve_ticket(tid, at=start + timedelta(minutes=i, seconds=30))
        ids.append(tid)
    return ids


def _ids(pages: list[TicketPage]) -> list[str]:
    return [t.id for page in pages for t in page.tickets]


def test_export_pages_and_resumes_from_a_persisted_cursor(zd_adapter: ZendeskAdapter,
                                                          zd_state: ZendeskState,
                                                          zd_sandbox: ZendeskSandbox) -> None:
    """25 solved tickets at 10 a page: a poll stopped after its first page resumes, in a new
    adapter, right after that page: every ticket exactly once, none twice."""
    ids = _solved(zd_state, 25)
    first = next(zd_adapter.closed_tickets(None))
    assert len(first.tickets) == 10
    zd_adapter.close()

    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url,
                        page_size=10) as resumed:
        rest = list(resumed.closed_tickets(first.cursor))
        again = list(resumed.closed_tickets(rest[-1].cursor))
    assert sorted(_ids([first, *rest]), key=int) == ids
    assert len(set(_ids([first, *rest]))) == 25
    assert _ids(again) == []
    assert json.loads(rest[-1].cursor)["v"] == 1


def test_ticket_fields_and_closed_at_is_solved_at(zd_adapter: ZendeskAdapter,
                                                  zd_state: ZendeskState) -> None:
    """closed_at is the metric set's solved_at even after later changes (our own tags move
    updated_at); brand → pipeline, status → stage, assignee/group/org/requester mapped."""
    org = zd_state.create_organization("Acme")
    group = zd_state.create_group("Tier 1")
    uid = zd_state.create_user("ada@example.com", organization_id=org)
    tid = zd_state.create_ticket("Refund", uid, group_id=group, brand_id="3", created_at=T0)
    zd_state.solve_ticket(tid, at=T0 + timedelta(minutes=5))
    zd_adapter.update_tickets([TicketUpdate(tid, add_tags=("cl_sent",))])

    (ticket,) = [t for page in zd_adapter.closed_tickets(None) for t in page.tickets]
    assert ticket.closed_at == T0 + timedelta(minutes=5)
    assert (ticket.pipeline, ticket.stage, ticket.team_id, ticket.organization_id,
            ticket.contact_ids, ticket.subject) == ("3", "solved", group, org, (uid,), "Refund")


def test_open_reopened_and_deleted_tickets_are_not_closed(zd_adapter: ZendeskAdapter,
                                                          zd_state: ZendeskState) -> None:
    """Only solved/closed tickets are yielded; a reopened or deleted one shows up in the
    export with its new status and is skipped; reopened() names it before dispatch."""
    solved, reopened, deleted, closed = _solved(zd_state, 4)
    zd_state.close_ticket(closed, at=T0 + timedelta(hours=1))
    uid = zd_state.create_user("x@example.com")
    still_open = zd_state.create_ticket("open one", uid)
    first = list(zd_adapter.closed_tickets(None))
    assert sorted(_ids(first), key=int) == [solved, reopened, deleted, closed]

    zd_state.reopen_ticket(reopened)
    zd_state.delete_ticket(deleted)
    later = list(zd_adapter.closed_tickets(first[-1].cursor))
    assert _ids(later) == []
    assert zd_adapter.reopened([solved, reopened, deleted, closed, still_open, "999999"]) == {
        reopened, deleted, still_open, "999999"}

    zd_state.solve_ticket(reopened)  # solved again: a new closing, yielded again
    assert _ids(list(zd_adapter.closed_tickets(later[-1].cursor if later else
                                               first[-1].cursor))) == [reopened]


def test_reopened_reads_in_batches_of_100(zd_adapter: ZendeskAdapter, zd_state: ZendeskState,
                                          zd_sandbox: ZendeskSandbox) -> None:
    ids = _solved(zd_state, 150)
    zd_sandbox.reset_calls()
    assert zd_adapter.reopened(ids) == set()
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["tickets_show_many"]: 2}


def test_tags_and_private_note_then_closed_refused(zd_adapter: ZendeskAdapter,
                                                   zd_state: ZendeskState,
                                                   zd_sandbox: ZendeskSandbox) -> None:
    """Tags are added (not replaced), the note is private; a closed ticket and an unknown
    one are refused per item, the others written, in one job followed to completion."""
    solved, closed = _solved(zd_state, 2)
    zd_state.close_ticket(closed)
    zd_sandbox.reset_calls()

    result = zd_adapter.update_tickets([
        TicketUpdate(solved, add_tags=("cl_detractor",), note="NPS 3: slow refund"),
        TicketUpdate(solved, add_tags=("cl_nps",)),
        TicketUpdate(closed, add_tags=("cl_detractor",)),
        TicketUpdate("999999", note="nobody"),
    ])

    assert result.written == [solved]
    assert result.rejected[closed] == CLOSED_REASON
    assert result.rejected["999999"].startswith("RecordNotFound")
    assert {"cl_detractor", "cl_nps"} <= set(zd_state.ticket(solved)["tags"])
    assert "cl_detractor" not in zd_state.ticket(closed)["tags"]
    note = zd_state.comments(solved)[-1]
    assert (note["body"], note["public"]) == ("NPS 3: slow refund", False)
    calls = zd_sandbox.calls_snapshot()
    assert calls[ENDPOINTS["tickets_update_many"]] == 1
    assert calls[ENDPOINTS["job_statuses_show_many"]] == 2  # "working", then "completed"


def test_export_429_waits_retry_after(zd_state: ZendeskState, policy: RetryPolicy,
                                      sleeps: list[float]) -> None:
    """The export's own bucket (10/minute) answers 429 with Retry-After; the policy waits
    exactly that long (recorded, not slept) and the poll carries on."""
    _solved(zd_state, 30)
    with ZendeskSandbox(zd_state, incremental_per_minute=2) as sandbox:

        def wait(seconds: float) -> None:
            sleeps.append(seconds)
            sandbox.reset_limits()

        retry = RetryPolicy(max_attempts=3, max_delay=120, base=0.01, cap=0.05, sleep=wait)
        with ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                            token=sandbox.token, base_url=sandbox.url, page_size=10,
                            start_at=T0 - timedelta(hours=1), retry=retry) as adapter:
            assert len(_ids(list(adapter.closed_tickets(None)))) == 30
            assert sandbox.throttled[EXPORT] == 1
            assert adapter.calls_by_endpoint()["incremental_tickets"] == 4
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 60


def test_export_429_beyond_the_budget_raises(zd_state: ZendeskState) -> None:
    _solved(zd_state, 30)
    with ZendeskSandbox(zd_state, incremental_per_minute=1) as sandbox, ZendeskAdapter(
            "zendesk", subdomain=sandbox.subdomain, email=sandbox.email, token=sandbox.token,
            base_url=sandbox.url, page_size=10, start_at=T0 - timedelta(hours=1),
            retry=RetryPolicy(max_attempts=3, max_delay=1.0, sleep=lambda s: None)) as adapter:
        pages = adapter.closed_tickets(None)
        next(pages)
        with pytest.raises(RateLimited) as caught:
            next(pages)
    assert caught.value.retry_after > 1.0


def test_wrong_token_is_auth_error(zd_sandbox: ZendeskSandbox) -> None:
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token="wrong", base_url=zd_sandbox.url) as adapter:
        with pytest.raises(AuthError, match="401"):
            list(adapter.closed_tickets(None))
        check = adapter.check_online([], [])
    assert not check.ok
    assert "401" in check.problems[0]


def test_server_errors_are_retried(zd_adapter: ZendeskAdapter, zd_state: ZendeskState,
                                   zd_sandbox: ZendeskSandbox) -> None:
    """Two 500s then success: the page is read, three export calls counted on both sides."""
    _solved(zd_state, 3)
    zd_sandbox.reset_calls()
    zd_sandbox.fail_next(2, status=500, path_prefix="/api/v2/incremental")
    assert len(_ids(list(zd_adapter.closed_tickets(None)))) == 3
    assert zd_adapter.calls_by_endpoint() == {"incremental_tickets": 3}
    assert zd_sandbox.calls_snapshot() == {EXPORT: 3}


def test_a_1000_ticket_poll_costs_one_call(zd_state: ZendeskState,
                                           zd_sandbox: ZendeskSandbox) -> None:
    """1,000 tickets solved since the cursor, 1,000 distinct requesters: one export page
    (1,000 a page) that sideloads the requesters, so reading them as contacts costs no
    users/show_many (it cost 10 before). The adapter's counts match the server's."""
    _solved(zd_state, 1000)
    zd_sandbox.reset_calls()
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url,
                        start_at=T0 - timedelta(hours=1)) as adapter:
        tickets = [t for page in adapter.closed_tickets(None) for t in page.tickets]
        contacts = adapter.contacts([c for t in tickets for c in t.contact_ids])
        counts = adapter.calls_by_endpoint()
    assert (len(tickets), len(contacts)) == (1000, 1000)
    assert counts == {"incremental_tickets": 1}
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS[k]: v for k, v in counts.items()}


def _private_notes(state: ZendeskState, tid: str) -> list[str]:
    return [c["body"] for c in state.comments(tid) if not c["public"]]


def test_a_refused_submit_is_split_and_no_other_job_is_sent_twice(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """250 notes are three jobs; Zendesk refuses the first submit whole (400, no job made).
    Its 100 tickets go again as two jobs of 50; the other two jobs go once: every ticket
    ends with exactly one note, in five submits, all followed together."""
    tids = _solved(zd_state, 250)
    zd_sandbox.reset_calls()
    zd_sandbox.fail_next(1, status=400, path_prefix="/api/v2/tickets/update_many")

    result = zd_adapter.update_tickets([TicketUpdate(t, note=f"note {t}") for t in tids])

    assert (result.written, result.rejected) == (tids, {})
    assert [_private_notes(zd_state, t) for t in tids] == [[f"note {t}"] for t in tids]
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["tickets_update_many"]: 5,
                                           ENDPOINTS["job_statuses_show_many"]: 2}


def test_a_submit_refused_for_a_reason_not_in_its_items_is_not_split(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """A 404 for the whole update_many is no item's fault: its 100 tickets are refused in
    one go (not bisected into 199 submits), the other job is written."""
    tids = _solved(zd_state, 150)
    zd_sandbox.reset_calls()
    zd_sandbox.fail_next(1, status=404, path_prefix="/api/v2/tickets/update_many")

    result = zd_adapter.update_tickets([TicketUpdate(t, add_tags=("cl_x",)) for t in tids])

    assert result.written == tids[100:]
    assert sorted(result.rejected, key=int) == tids[:100]
    assert "answered 404" in result.rejected[tids[0]]
    assert zd_sandbox.calls_snapshot()[ENDPOINTS["tickets_update_many"]] == 2
