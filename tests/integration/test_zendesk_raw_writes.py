"""Zendesk's hot writes as plain JSON send what zenpy's objects sent and come to the same.

The contact write-back (users PUT and update_many), the ticket hooks (tickets PUT and
update_many: `additional_tags` and a private comment) and the follow-up tickets
(create_many, and update_many for a re-score's comment) no longer build zenpy objects
(integration/zendesk/_raw_writes.py). Each scenario runs twice on identical fresh sandbox
accounts over real HTTP, once through zenpy's objects as the adapter wrote before and once
through the JSON writer (zendesk_write_paths.both), and pins that the two agree on every
request sent (method, path, JSON body), the adapter's answer (result or error), the
account afterwards, the calls and 429s counted per endpoint, the retry waits and the
pacer's figures; then the JSON side's values are pinned as expected values too.
"""

from __future__ import annotations

from typing import Any

import pytest
import responses
from zendesk_write_paths import ZenpyWrites, both, run

from closedloop.integration.base import Attribution, ContactUpdate, FollowUp, TicketUpdate
from closedloop.integration.errors import ClosedLoopError, TransientError
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._ticket_notes import CLOSED_REASON

LONG_NOTE = "Ça ne va pas — «lent», 遅い ✓ " * 400  # 10,800 characters, none of them ASCII-only
JOB_READS = ("GET", "/api/v2/job_statuses/show_many.json", None)


def _users(state: ZendeskState, n: int = 3) -> list[str]:
    return [state.create_user(f"u{i}@example.com", f"Ü{i} Doe") for i in range(n)]


def _write(updates: list[tuple[str, dict[str, str]]]) -> Any:
    def act(zd: ZendeskAdapter, _sb: ZendeskSandbox, ids: list[str]) -> Any:
        return zd.write_contacts([ContactUpdate(ids[i] if isinstance(i, int) else i, p)
                                  for i, p in updates])  # type: ignore[arg-type]
    return act


def test_one_user_put_with_a_null_and_non_ascii_fields() -> None:
    """One contact: PUT users/{id}.json with {"user": {"id", "user_fields"}}, "" sent as
    null, non-ASCII text as it is; written, the fields on the user, one counted call."""
    fields = {"cl_csat_rating": "4", "cl_comment": "Très bien — 速い ✓", "cl_segment": ""}
    now = both(_users, _write([(0, fields)]))  # type: ignore[list-item]
    uid = now.ids[0]
    assert now.sent == [("PUT", f"/api/v2/users/{uid}.json", {"user": {
        "id": int(uid), "user_fields": {"cl_csat_rating": "4",
                                        "cl_comment": "Très bien — 速い ✓", "cl_segment": None}}})]
    assert (now.out.written, now.out.rejected) == ([uid], {})
    assert now.account["users"][int(uid)] == {
        "cl_csat_rating": 4, "cl_comment": "Très bien — 速い ✓", "cl_segment": None}
    assert (now.calls, now.paced) == ({"user_update": 1}, (1, 0, 0.0, 0))


def test_users_update_many_job_with_refused_items() -> None:
    """Four users in one update_many job: one value Zendesk refuses and one unknown
    (deleted) user come back refused per item from the job status, with Zendesk's words;
    the others are written. One submit and two status reads (the job is "working" once)."""
    def seed(state: ZendeskState) -> list[str]:
        return [*_users(state, 3), "999999"]
    now = both(seed, _write([(0, {"cl_csat_rating": "5"}), (1, {"cl_csat_rating": "four"}),
                             (2, {"cl_comment": "ok", "cl_segment": ""}),
                             (3, {"cl_csat_rating": "1"})]))  # type: ignore[list-item]
    a, b, c, gone = now.ids
    assert now.sent == [
        ("PUT", "/api/v2/users/update_many.json", {"users": [
            {"id": int(a), "user_fields": {"cl_csat_rating": "5"}},
            {"id": int(b), "user_fields": {"cl_csat_rating": "four"}},
            {"id": int(c), "user_fields": {"cl_comment": "ok", "cl_segment": None}},
            {"id": 999999, "user_fields": {"cl_csat_rating": "1"}}]}),
        JOB_READS, JOB_READS]
    assert now.out.written == [a, c]
    assert sorted(now.out.rejected) == sorted([b, gone])
    assert "is not a number" in now.out.rejected[b]
    assert now.out.rejected[gone] == "RecordNotFound: User not found"
    assert now.account["users"][int(b)] == {}


def test_a_422_and_a_404_on_a_single_put_and_the_200_beside_them() -> None:
    """Single PUTs: a refused value (422) and an unknown user (404) are refused with
    Zendesk's words and the status; the valid value beside them (200) is written."""
    now = both(_users, _write([(0, {"cl_csat_rating": "four"})]))  # type: ignore[list-item]
    uid = now.ids[0]
    assert (now.out.written, list(now.out.rejected)) == ([], [uid])
    assert now.out.rejected[uid].startswith("Zendesk user_update answered 422: ")
    assert "is not a number" in now.out.rejected[uid]
    fine = both(_users, _write([(0, {"cl_csat_rating": "3"}),
                                ("999999", {"cl_csat_rating": "3"})]))  # type: ignore[list-item]
    assert fine.out.written == [fine.ids[0]]
    assert fine.out.rejected == {
        "999999": "Zendesk user_update answered 404: RecordNotFound: Not found"}
    assert fine.calls == {"user_update": 2}


@pytest.mark.parametrize("wait", [7, 3600])
def test_a_429_with_retry_after_on_a_put_and_on_a_job(wait: int) -> None:
    """A 429 on the user PUT and on the update_many submit: within the retry budget
    (Retry-After 7 s) both are waited out and retried, the pacer closed for as long;
    beyond it (3600 s) RateLimited is raised with the wait and nothing is written."""
    def act(zd: ZendeskAdapter, sb: ZendeskSandbox, ids: list[str]) -> Any:
        out = []
        for users in (ids[:1], ids):
            sb.fail_next(1, status=429, path_prefix="/api/v2/users/", retry_after=wait)
            try:
                out.append(zd.write_contacts([ContactUpdate(u, {"cl_csat_rating": "2"})
                                              for u in users]))
            except ClosedLoopError as exc:
                out.append((type(exc).__name__, getattr(exc, "retry_after", None)))
        return out
    now = both(_users, act)
    if wait == 7:
        assert [r.written for r in now.out] == [now.ids[:1], now.ids]
        assert now.limited == {"user_update": 1, "users_update_many": 1}
        assert now.waits[:1] == [7.0]
        assert now.paced[3] == 2  # both 429s seen by the pacer
    else:
        # the second call is not sent: the pacer holds the window shut for the 3600 s
        assert now.out == [("RateLimited", 3600.0), ("Throttled", 3600.0)]
        assert (now.calls, now.limited) == ({"user_update": 1}, {"user_update": 1})
        assert all(not f for f in now.account["users"].values())


def _tickets(state: ZendeskState) -> list[str]:
    users = _users(state, 4)
    out = [state.create_ticket(f"t{i}", u, status="solved", tags=["a", "b"])
           for i, u in enumerate(users)]
    state.close_ticket(out[3])
    return out


def test_one_ticket_hook_merges_tags_and_adds_a_long_non_ascii_private_note() -> None:
    """A hook: PUT tickets/{id}.json with additional_tags (added to the ticket's tags,
    never replacing them) and a private comment of 10,800 non-ASCII characters; the closed
    ticket beside it is refused (422) with what to do about it."""
    def act(zd: ZendeskAdapter, _sb: ZendeskSandbox, ids: list[str]) -> Any:
        return zd.update_tickets([
            TicketUpdate(ids[0], add_tags=("cl_detractor", "a"), note=LONG_NOTE, key="k1"),
            TicketUpdate(ids[3], add_tags=("cl_detractor",))])
    now = both(_tickets, act)
    solved, closed = now.ids[0], now.ids[3]
    assert now.sent == [
        ("PUT", f"/api/v2/tickets/{solved}.json", {"ticket": {
            "id": int(solved), "additional_tags": ["cl_detractor", "a"],
            "comment": {"body": f"{LONG_NOTE}\n\n[k1]", "public": False}}}),
        ("PUT", f"/api/v2/tickets/{closed}.json", {"ticket": {
            "id": int(closed), "additional_tags": ["cl_detractor"]}})]
    assert (now.out.written, now.out.rejected) == ([solved], {closed: CLOSED_REASON})
    ticket = now.account["tickets"][int(solved)]
    assert (ticket[4], ticket[8][-1]) == (["a", "b", "cl_detractor"],
                                          (f"{LONG_NOTE}\n\n[k1]", False))


def test_ticket_hooks_update_many_with_a_closed_and_an_unknown_ticket() -> None:
    """Five hooks in one update_many job: the closed ticket and an unknown id are refused
    per item (the closed one with what to do), the three solved ones written, tags merged."""
    def act(zd: ZendeskAdapter, _sb: ZendeskSandbox, ids: list[str]) -> Any:
        return zd.update_tickets([TicketUpdate(t, add_tags=("cl_promoter",), note="NPS 10",
                                               key=f"n{t}") for t in [*ids, "999999"]])
    now = both(_tickets, act)
    assert now.sent[0] == ("PUT", "/api/v2/tickets/update_many.json", {"tickets": [
        {"id": int(t), "additional_tags": ["cl_promoter"],
         "comment": {"body": f"NPS 10\n\n[n{t}]", "public": False}}
        for t in [*now.ids, "999999"]]})
    assert now.sent[1:] == [JOB_READS, JOB_READS]
    assert now.out.written == now.ids[:3]
    assert now.out.rejected[now.ids[3]] == CLOSED_REASON
    assert now.out.rejected["999999"] == "RecordNotFound: Ticket not found"
    assert [now.account["tickets"][int(t)][4] for t in now.ids[:3]] == [
        ["a", "b", "cl_promoter"]] * 3


def test_a_429_on_a_note_put_is_waited_out_and_a_5xx_is_not_retried() -> None:
    """A note is a create: a 429 (nothing applied) is retried after Retry-After; a 503
    is not (it may have landed), so the hook call raises it and the caller looks first."""
    def act(zd: ZendeskAdapter, sb: ZendeskSandbox, ids: list[str]) -> Any:
        sb.fail_next(1, status=429, path_prefix=f"/api/v2/tickets/{ids[0]}", retry_after=3)
        first = zd.update_tickets([TicketUpdate(ids[0], note="CSAT 5", key="a")])
        sb.fail_next(1, status=503, path_prefix=f"/api/v2/tickets/{ids[1]}")
        try:
            zd.update_tickets([TicketUpdate(ids[1], note="CSAT 1", key="b")])
        except TransientError as exc:
            return first, str(exc)
        return first, None
    now = both(_tickets, act)
    assert now.out[0].written == [now.ids[0]]
    assert now.out[1] == (
        "Zendesk ticket_update answered 503: ServiceUnavailable: Service temporarily "
        "unavailable, please try again later")
    assert now.calls == {"ticket_update": 3}
    assert now.waits == [3.0]


def _follow_up_seed(state: ZendeskState) -> dict[str, str]:
    group = state.create_group("Support")
    agent = state.create_user("agent@acme.example", "Agent", role="agent")
    users = _users(state, 3)
    closed = state.create_ticket("a", users[0], group_id=group, status="solved")
    state.tickets[int(closed)].assignee_id = int(agent)
    state.close_ticket(closed)
    solved = state.create_ticket("b", users[1], group_id=group, status="solved")
    earlier = state.create_ticket("earlier follow-up", users[2], status="open")
    return {"group": group, "agent": agent, "closed": closed, "solved": solved,
            "earlier": earlier, "u0": users[0], "u1": users[1], "u2": users[2]}


def test_follow_up_creates_and_a_rescore_comment() -> None:
    """write_follow_ups: create_many with the closed original linked, the open one named in
    the comment only, group and assignee from the rating-time reading or the original,
    tags, a public first comment, a requester Zendesk does not know refused per item; and a
    re-score's private comment on the follow-up ticket it has (update_many)."""
    def act(zd: ZendeskAdapter, _sb: ZendeskSandbox, ids: dict[str, str]) -> Any:
        def item(key: str, contact: str, ticket: str | None, **kw: Any) -> FollowUp:
            return FollowUp(key=key, contact_id=contact, ticket_id=ticket,
                            subject=f"Follow up «{key}»", body=f"CSAT 1 — {key}\nlent", **kw)
        return zd.write_follow_ups([
            item("ka", ids["u0"], ids["closed"], tags=("closedloop_follow_up",)),
            item("kb", ids["u1"], ids["solved"], public=True, group_id=ids["group"],
                 at_rating=Attribution(owner_id=None, team_id=None, closed=False)),
            item("gone", "999999", ids["solved"]),
            item("kc", ids["u2"], None, crm_id=ids["earlier"], update_text="Update: now 2"),
            item("kd", ids["u2"], ids["solved"], crm_id=ids["earlier"]),
        ])
    now = both(_follow_up_seed, act)
    ids = now.ids
    creates = [s for s in now.sent if s[1] == "/api/v2/tickets/create_many.json"]
    assert creates == [("POST", "/api/v2/tickets/create_many.json", {"tickets": [
        {"subject": "Follow up «ka»", "requester_id": int(ids["u0"]), "external_id": "ka",
         "tags": ["closedloop_follow_up"], "assignee_id": int(ids["agent"]),
         "group_id": int(ids["group"]), "via_followup_source_id": int(ids["closed"]),
         "comment": {"body": "CSAT 1 — ka\nlent", "public": False}},
        {"subject": "Follow up «kb»", "requester_id": int(ids["u1"]), "external_id": "kb",
         "tags": [], "group_id": int(ids["group"]),
         "comment": {"body": "CSAT 1 — kb\nlent", "public": True}},
        {"subject": "Follow up «gone»", "requester_id": 999999, "external_id": "gone",
         "tags": [], "group_id": int(ids["group"]),
         "comment": {"body": "CSAT 1 — gone\nlent", "public": False}}]})]
    updates = [s for s in now.sent if s[1] == "/api/v2/tickets/update_many.json"]
    assert updates == [("PUT", "/api/v2/tickets/update_many.json", {"tickets": [
        {"id": int(ids["earlier"]), "comment": {"body": "Update: now 2", "public": False}},
        {"id": int(ids["earlier"]), "comment": {"body": "CSAT 1 — kd\nlent",
                                                "public": False}}]})]
    assert sorted(now.out.created) == ["ka", "kb"]
    assert list(now.out.rejected) == ["gone"]
    assert now.out.updated == {"kd": ids["earlier"]}
    assert now.account["tickets"][int(ids["earlier"])][8][1:] == [
        ("Update: now 2", False), ("CSAT 1 — kd\nlent", False)]


# -- a 2xx that is not JSON: canned for that one answer, the sandbox behind it -------------

def _html_once(method: str, path: str) -> Any:
    """`act` wrapper: the first `method path` request is answered 200 with a login page
    (as a proxy in front of Zendesk would), every other request reaches the sandbox."""
    def wrap(act: Any) -> Any:
        def wrapped(zd: ZendeskAdapter, sb: ZendeskSandbox, ids: Any) -> Any:
            url = sb.url + path.format(**ids) if isinstance(ids, dict) else sb.url + path.format(
                *ids)
            with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
                mock.add_passthru(sb.url)
                mock.add(getattr(responses, method), url, body="<html>login</html>", status=200)
                mock.add(responses.PassthroughResponse(getattr(responses, method), url))
                try:
                    return act(zd, sb, ids)
                except TransientError as exc:
                    return ("TransientError", str(exc))
        return wrapped
    return wrap


@pytest.mark.parametrize("n", [1, 3])
def test_a_200_that_is_not_json_on_a_user_write_is_retried(n: int) -> None:
    """A user PUT (1 contact) or update_many submit (3) answered 200 with a page that is
    not JSON: transient, retried after a backoff like the reads, then written. zenpy took
    that 200 as done (the user never written: a row marked written wrongly); the other side
    of the edge, a 200 with JSON, is written at once (the tests above)."""
    path = "/api/v2/users/{0}.json" if n == 1 else "/api/v2/users/update_many.json"
    act = _html_once("PUT", path)(_write([(i, {"cl_csat_rating": "4"}) for i in range(n)]))
    now = run("json", _users, act)
    assert now.out.written == now.ids[:n]
    assert [now.account["users"][int(u)] for u in now.ids[:n]] == [{"cl_csat_rating": 4}] * n
    assert len(now.waits) - (2 if n == 3 else 0) == 1  # one backoff (+ two job polls)
    endpoint = "user_update" if n == 1 else "users_update_many"
    assert now.calls[endpoint] == 2
    before = run("zenpy", _users, act)
    if n == 1:
        assert (before.out.written, before.account["users"][int(before.ids[0])]) == (
            before.ids[:1], {})


@pytest.mark.parametrize("n", [1, 3])
def test_a_200_that_is_not_json_on_a_note_is_transient_and_not_resent(n: int) -> None:
    """A note PUT (1 hook) or tickets update_many submit (3) answered 200 with a page that
    is not JSON may or may not have landed: TransientError, not re-sent in the call (one
    request); the caller's check_first retry looks for the marker (here the page came from
    a proxy, so the note is missing) and writes each note once. zenpy took the 200 as
    written: the notes would never have landed."""
    def act(zd: ZendeskAdapter, _sb: ZendeskSandbox, ids: list[str]) -> Any:
        return zd.update_tickets([TicketUpdate(t, note="CSAT 2", key=f"z{t}")
                                  for t in ids[:n]])
    path = "/api/v2/tickets/{0}.json" if n == 1 else "/api/v2/tickets/update_many.json"
    endpoint = "ticket_update" if n == 1 else "tickets_update_many"

    def then_retry(zd: ZendeskAdapter, sb: ZendeskSandbox, ids: list[str]) -> Any:
        out = _html_once("PUT", path)(act)(zd, sb, ids)
        again = zd.update_tickets([TicketUpdate(t, note="CSAT 2", key=f"z{t}",
                                                check_first=True) for t in ids[:n]])
        return out, again.written
    now = run("json", _tickets, then_retry)
    assert now.out == (("TransientError",
                        f"Zendesk {endpoint} answered 200 with a body that is not JSON"),
                       now.ids[:n])
    assert now.calls == {endpoint: 2, "ticket_comments": n,
                         **({"job_statuses_show_many": 2} if n == 3 else {})}
    assert [[b for b, _ in now.account["tickets"][int(t)][8]].count(f"CSAT 2\n\n[z{t}]")
            for t in now.ids[:n]] == [1] * n


def test_the_zenpy_side_really_wrote_through_zenpy() -> None:
    """Guard for every comparison above: on the "zenpy" side the writes went through
    zenpy's objects (ZenpyWrites was called and sends nothing itself)."""
    def act(zd: ZendeskAdapter, _sb: ZendeskSandbox, ids: list[str]) -> Any:
        zd.update_tickets([TicketUpdate(ids[0], note="x", key="g")])
        zd.write_contacts([ContactUpdate(ids[0], {"cl_csat_rating": "1"})])
        assert isinstance(zd._writes, ZenpyWrites)
        return zd._writes.used
    assert run("zenpy", _tickets, act).out == 2
