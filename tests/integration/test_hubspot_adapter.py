"""HubSpotAdapter contacts, write-back and error handling, over HTTP against the sandbox."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.base import (
    ContactUpdate,
    Erasure,
    FollowUp,
    MemberSelection,
    TicketUpdate,
)
from closedloop.integration.errors import AuthError, RecordRejected, TransientError
from closedloop.integration.hubspot import ENDPOINTS, HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

READ = "POST /crm/v3/objects/contacts/batch/read"
UPDATE = "POST /crm/v3/objects/contacts/batch/update"
UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"


def _people(state: HubSpotState, n: int) -> list[str]:
    return [state.create_contact(f"p{i}@example.com", f"F{i}", f"L{i}", "fr") for i in range(n)]


def _nps(contact_id: str, score: int) -> ContactUpdate:
    return ContactUpdate(contact_id, {"cl_nps_last_rating": str(score),
                                      "cl_nps_last_answered_at": "2026-05-01T10:00:00.000Z"})


def test_contacts_batch_read_leaves_unknown_ids_out(adapter: HubSpotAdapter, state: HubSpotState,
                                                    sandbox: HubSpotSandbox) -> None:
    """250 known ids and one unknown: 3 batch reads of <=100, the unknown id is left out,
    fields come from email/firstname/lastname/hs_language."""
    ids = _people(state, 250)
    sandbox.reset_calls()

    found = adapter.contacts([*ids, "999999"])

    assert set(ids) == set(found)
    assert sandbox.calls[READ] == 3
    first = found[ids[0]]
    actual = (first.email, first.first_name, first.last_name, first.language)
    assert actual == ("p0@example.com", "F0", "L0", "fr")


def test_write_250_updates_in_three_batches(with_properties: HubSpotAdapter,
                                            state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """250 updates → 3 batch update calls (100, 100, 50), values on the contact records."""
    ids = _people(state, 250)
    sandbox.reset_calls()

    result = with_properties.write_contacts([_nps(cid, i % 11) for i, cid in enumerate(ids)])

    assert sandbox.calls[UPDATE] == 3
    assert ids == result.written
    assert result.rejected == {}
    assert state.contact(ids[7])["properties"]["cl_nps_last_rating"] == "7"


def test_write_batch_size_is_one_batch_call_each_for_contacts_and_notes(
        with_properties: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """write_batch_size updates are one contacts batch update, and as many ticket hooks one
    notes batch create: a call that fails has written nothing, so a retry adds no note twice."""
    size = with_properties.write_batch_size
    ids = _people(state, size)
    tickets = [state.create_ticket(f"t{i}", cid) for i, cid in enumerate(ids)]
    sandbox.reset_calls()

    with_properties.write_contacts([_nps(cid, 9) for cid in ids])
    noted = with_properties.update_tickets([TicketUpdate(t, note="hi") for t in tickets])

    assert (size, sandbox.calls[UPDATE], len(noted.written)) == (100, 1, 100)
    assert sandbox.calls["POST /crm/v3/objects/notes/batch/create"] == 1


def test_updates_for_one_contact_are_merged(with_properties: HubSpotAdapter,
                                            state: HubSpotState) -> None:
    """Two updates for one contact go out as one input (HubSpot refuses duplicate ids),
    the later value winning."""
    (cid,) = _people(state, 1)
    result = with_properties.write_contacts([_nps(cid, 3), _nps(cid, 9)])
    assert [cid] == result.written
    assert state.contact(cid)["properties"]["cl_nps_last_rating"] == "9"


def test_partial_failure_207_rejects_only_unknown_contacts(with_properties: HubSpotAdapter,
                                                           state: HubSpotState) -> None:
    """A 207 names the contacts HubSpot could not update; the others are written."""
    ids = _people(state, 2)
    result = with_properties.write_contacts([_nps(ids[0], 5), _nps("424242", 6), _nps(ids[1], 8)])
    assert ids == result.written
    assert list(result.rejected) == ["424242"]
    assert result.rejected["424242"].startswith("OBJECT_NOT_FOUND")


def test_unknown_property_rejects_the_batch(adapter: HubSpotAdapter, state: HubSpotState,
                                            sandbox: HubSpotSandbox) -> None:
    """A 400 for the whole batch (a property that does not exist) raises RecordRejected
    with HubSpot's message, after one call: a 400 is never retried."""
    (cid,) = _people(state, 1)
    sandbox.reset_calls()
    with pytest.raises(RecordRejected, match="cl_nope") as caught:
        adapter.write_contacts([ContactUpdate(cid, {"cl_nope": "1"})])
    assert caught.value.status == 400
    assert sandbox.calls[UPDATE] == 1


def test_429_is_retried_after_the_policy_wait(with_properties: HubSpotAdapter,
                                              state: HubSpotState, sandbox: HubSpotSandbox,
                                              sleeps: list[float]) -> None:
    """A TEN_SECONDLY_ROLLING 429 waits 10 s (recorded, not slept), then succeeds; both
    attempts are counted by the adapter and seen by the server."""
    (cid,) = _people(state, 1)
    before = with_properties.call_count()
    sandbox.reset_calls()
    sandbox.fail_next(1, 429, path_prefix=UPDATE_PATH)

    result = with_properties.write_contacts([_nps(cid, 10)])

    assert [cid] == result.written
    assert sleeps == [10.0]
    assert sandbox.calls[UPDATE] == 2
    assert with_properties.call_count() - before == 2


def test_retry_after_header_wins_over_the_policy_default(with_properties: HubSpotAdapter,
                                                         state: HubSpotState,
                                                         sandbox: HubSpotSandbox,
                                                         sleeps: list[float]) -> None:
    """A 429 carrying Retry-After waits exactly that long."""
    (cid,) = _people(state, 1)
    sandbox.fail_next(1, 429, path_prefix=UPDATE_PATH, retry_after=2)
    with_properties.write_contacts([_nps(cid, 1)])
    assert sleeps == [2.0]


def test_5xx_backs_off_then_succeeds(with_properties: HubSpotAdapter, state: HubSpotState,
                                     sandbox: HubSpotSandbox, sleeps: list[float]) -> None:
    """500 then 502 then success: two growing, jittered waits within the policy's bounds."""
    (cid,) = _people(state, 1)
    sandbox.reset_calls()
    sandbox.fail_next(1, 500, path_prefix=UPDATE_PATH)
    sandbox.fail_next(1, 502, path_prefix=UPDATE_PATH)

    assert [cid] == with_properties.write_contacts([_nps(cid, 4)]).written

    assert sandbox.calls[UPDATE] == 3
    assert len(sleeps) == 2
    assert 0.005 <= sleeps[0] <= 0.01  # base 0.01: equal jitter over [0.005, 0.01]
    assert 0.01 <= sleeps[1] <= 0.02


def test_5xx_until_attempts_run_out_raises_transient(with_properties: HubSpotAdapter,
                                                     state: HubSpotState,
                                                     sandbox: HubSpotSandbox) -> None:
    """Four 503s with max_attempts=4: TransientError, exactly four calls, no fifth."""
    (cid,) = _people(state, 1)
    sandbox.reset_calls()
    sandbox.fail_next(5, 503, path_prefix=UPDATE_PATH)
    with pytest.raises(TransientError):
        with_properties.write_contacts([_nps(cid, 4)])
    assert sandbox.calls[UPDATE] == 4


@pytest.mark.parametrize("status", [404, 409, 422])
def test_other_4xx_are_not_retried(adapter: HubSpotAdapter, state: HubSpotState,
                                   sandbox: HubSpotSandbox, status: int) -> None:
    """404/409/422 raise RecordRejected with that status after one call."""
    ids = _people(state, 1)
    sandbox.reset_calls()
    sandbox.fail_next(1, status, path_prefix="/crm/v3/objects/contacts/batch/read")
    with pytest.raises(RecordRejected) as caught:
        adapter.contacts(ids)
    assert status == caught.value.status
    assert sandbox.calls[READ] == 1


def test_bad_token_is_an_auth_error_without_retry(sandbox: HubSpotSandbox,
                                                  policy: RetryPolicy) -> None:
    """A 401 raises AuthError after one call, and the message never contains the token."""
    adapter = HubSpotAdapter("hubspot", "wrong-token-123", sandbox.url, retry=policy)
    with pytest.raises(AuthError) as caught:
        adapter.contacts(["1"])
    assert adapter.call_count() == 1
    assert "wrong-token-123" not in str(caught.value)
    assert "wrong-token-123" not in repr(adapter)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (the kernel completes the handshake)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_read_timeout_is_transient_and_retried(silent_port: int, policy: RetryPolicy) -> None:
    """A server that never answers hits the read timeout; each attempt is counted."""
    adapter = HubSpotAdapter("hubspot", "t", f"http://127.0.0.1:{silent_port}",
                             timeout=(0.5, 0.2),
                             retry=RetryPolicy(max_attempts=2, base=0.001, cap=0.001,
                                               sleep=policy.sleep))
    with pytest.raises(TransientError, match="contacts_read"):
        adapter.contacts(["1"])
    assert adapter.call_count() == 2


def test_connection_refused_is_transient(policy: RetryPolicy) -> None:
    """Nothing listening: TransientError after max_attempts, not a raw urllib3 error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = HubSpotAdapter("hubspot", "t", f"http://127.0.0.1:{port}", retry=policy)
    with pytest.raises(TransientError):
        adapter.contacts(["1"])
    assert adapter.call_count() == 4


def test_every_path_called_is_in_the_endpoint_table(with_properties: HubSpotAdapter,
                                                    state: HubSpotState,
                                                    sandbox: HubSpotSandbox) -> None:
    """After exercising every adapter method, the server saw only paths from ENDPOINTS,
    and the adapter's per-endpoint counts match the server's."""
    ids = _people(state, 2)
    tid = state.create_ticket("t", ids[0], closed_at=datetime.now(UTC) - timedelta(hours=1))
    list(with_properties.closed_tickets(None))
    with_properties.contacts(ids)
    with_properties.write_contacts([_nps(ids[0], 2)])
    with_properties.check_online(HubSpotAdapter.required_scopes, ["cl_nps_last_rating"],
                                 ["cl_nps_rating"])
    with_properties.reopened([tid])
    with_properties.ticket_attribution([tid])
    with_properties.update_tickets([TicketUpdate(tid, note="NPS 2",
                                                 properties={"cl_nps_rating": "2"})])
    with_properties.update_tickets([TicketUpdate(tid, note="NPS 3", key="k", check_first=True)])
    task = FollowUp(key="f", contact_id=ids[0], ticket_id=tid, subject="s", body="b",
                    due_at=datetime.now(UTC))
    made = with_properties.write_follow_ups([task]).created["f"]
    with_properties.write_follow_ups([replace(task, crm_id=made),
                                      replace(task, key="g", check_first=True)])
    with_properties.update_tickets([TicketUpdate(tid, note="NPS 1", key="cl-hook-9")])
    erased = with_properties.erase_quotes([Erasure("1", tid, (made,), {"cl_nps_rating": ""})])
    assert erased.written == ["1"]
    list_id = state.create_list("NPS", ids)
    list(with_properties.members(MemberSelection(list_id=list_id)))
    with_lists = HubSpotAdapter("hubspot", "sandbox-token", sandbox.url, lists=[list_id])
    with_lists.check_online(with_lists.required_scopes, [])

    called = set(sandbox.calls)
    assert called <= set(ENDPOINTS.values())
    assert set(ENDPOINTS.values()) == called  # and every endpoint in the table is used
    counts = Counter(with_properties.calls_by_endpoint()) + Counter(
        with_lists.calls_by_endpoint())
    by_path = {ENDPOINTS[name]: n for name, n in counts.items()}
    assert dict(sandbox.calls) == by_path
