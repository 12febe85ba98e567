"""The real zenpy against the Zendesk sandbox: incremental export, reads, writes, jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sandbox_support import ZD_NOW, make_zenpy, zd_http
from zenpy.lib.api_objects import Comment, Ticket, User, UserField
from zenpy.lib.exception import APIException, RecordNotFoundException

from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState


def _stream_ids(state: ZendeskState) -> list[int]:
    """Ticket ids in the order the export hands them out (change order)."""
    return [t.id for t in sorted(state.tickets.values(), key=lambda t: t.seq)]


# ------------------------------------------------------------------ export
def test_incremental_export_pages_and_resumes_in_a_new_client(
        zd: Any, zd_sandbox: ZendeskSandbox, zd_state: ZendeskState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """40 tickets at 15 per page take 3 requests following absolute after_urls; the
    cursor of the first page, given to a new client, yields exactly the rest."""
    gen = zd.tickets.incremental(start_time=0, per_page=15)
    first_page = [next(gen).id for _ in range(15)]
    page_cursor = gen.after_cursor
    rest = [t.id for t in gen]
    assert first_page + rest == _stream_ids(zd_state)
    assert gen.end_of_stream is True
    assert zd_sandbox.calls["GET /api/v2/incremental/tickets/cursor.json"] == 3
    again = make_zenpy(zd_sandbox, monkeypatch)
    assert [t.id for t in again.tickets.incremental(cursor=page_cursor, per_page=15)] == rest


def test_resumed_cursor_sees_solved_reopened_deleted_and_new_tickets(
        zd: Any, zd_sandbox: ZendeskSandbox, zd_state: ZendeskState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After the stream's end, each later change shows up once, in change order, deleted
    tickets with status "deleted"; a start_time after every change returns nothing."""
    gen = zd.tickets.incremental(start_time=0)
    before = {t.id: t.status for t in gen}
    cursor = gen.after_cursor
    open_id = next(i for i, s in before.items() if s == "open")
    solved_id = next(i for i, s in before.items() if s == "solved")
    gone_id = next(i for i, s in before.items() if s == "closed")
    zd_state.solve_ticket(str(open_id))
    zd_state.reopen_ticket(str(solved_id))
    zd_state.delete_ticket(str(gone_id))
    new_id = int(zd_state.create_ticket("New one", None))
    client = make_zenpy(zd_sandbox, monkeypatch)
    changed = [(t.id, t.status) for t in client.tickets.incremental(cursor=cursor)]
    assert changed == [(open_id, "solved"), (solved_id, "open"), (gone_id, "deleted"),
                       (new_id, "open")]
    late = ZD_NOW + timedelta(days=3650)
    assert list(client.tickets.incremental(start_time=late)) == []


def test_metric_sets_sideload_and_absolute_links(zd_sandbox: ZendeskSandbox,
                                                 zd_state: ZendeskState) -> None:
    """include=metric_sets carries one metric set per ticket with its solved_at; every
    next link points back at the sandbox."""
    body = zd_http(zd_sandbox, "GET", "/api/v2/incremental/tickets/cursor.json",
                   params={"start_time": 0, "per_page": 10, "include": "metric_sets"}).json()
    assert {"tickets", "after_url", "after_cursor", "before_url", "before_cursor",
            "end_of_stream", "metric_sets"} == set(body)
    assert [m["ticket_id"] for m in body["metric_sets"]] == [t["id"] for t in body["tickets"]]
    for metric in body["metric_sets"]:
        ticket = zd_state.tickets[metric["ticket_id"]]
        expected = ticket.solved_at.strftime("%Y-%m-%dT%H:%M:%SZ") if ticket.solved_at else None
        assert metric["solved_at"] == expected
    assert body["after_url"].startswith(f"{zd_sandbox.url}/api/v2/incremental/tickets/")
    assert "include=metric_sets" in body["after_url"]
    assert body["end_of_stream"] is False
    nxt = zd_http(zd_sandbox, "GET", body["after_url"].removeprefix(zd_sandbox.url)).json()
    assert nxt["tickets"][0]["id"] not in {t["id"] for t in body["tickets"]}


def test_hiding_the_last_minute_is_an_option(zd_state: ZendeskState,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """hide_recent_seconds=60: a change is exported only once it is a minute old, and the
    cursor waits for it rather than skipping it."""
    with time_machine.travel(ZD_NOW, tick=False) as clock, \
            ZendeskSandbox(zd_state, hide_recent_seconds=60,
                           incremental_per_minute=0) as sb:
        zd = make_zenpy(sb, monkeypatch)
        gen = zd.tickets.incremental(start_time=0)
        assert len(list(gen)) == 40
        fresh = int(zd_state.create_ticket("Fresh", None))
        resumed = zd.tickets.incremental(cursor=gen.after_cursor)
        assert list(resumed) == []
        clock.shift(61)
        assert [t.id for t in zd.tickets.incremental(cursor=resumed.after_cursor)] == [fresh]


# ------------------------------------------------------------------ reads
def test_show_many_leaves_out_unknown_and_deleted(zd: Any, zd_state: ZendeskState) -> None:
    ids = sorted(i for i, t in zd_state.tickets.items() if t.status != "deleted")[:3]
    zd_state.delete_ticket(str(ids[2]))
    assert [t.id for t in zd.tickets(ids=[*ids, 99_999])] == ids[:2]
    with pytest.raises(RecordNotFoundException):
        zd.tickets(id=ids[2])
    users = sorted(zd_state.users)[:2]
    assert [u.id for u in zd.users(ids=[*users, 5])] == users
    orgs = sorted(zd_state.organizations)[:2]
    assert [o.name for o in zd.organizations(ids=orgs)] == [
        zd_state.organizations[o].name for o in orgs]
    group = sorted(zd_state.groups)[0]
    assert zd.groups(id=group).name == "Support"


def test_user_json_has_locale_time_zones_and_fields(zd: Any, zd_state: ZendeskState) -> None:
    oslo = zd_state.create_user(None, "Nora Berg", "nb", "Europe/Oslo")
    user = zd.users(id=int(oslo))
    assert (user.email, user.locale, user.iana_time_zone, user.time_zone) == (
        None, "nb", "Europe/Oslo", "Oslo")
    assert user.user_fields == {"plan": None, "account_manager": None, "region": None}
    assert zd.users.me().email == "agent@sandbox.example"


# ------------------------------------------------------------------ user fields and jobs
def test_user_field_create_duplicate_and_bad_type(zd: Any, zd_state: ZendeskState) -> None:
    """Create answers 201 with the new field; the same key again and an unknown type are
    422 RecordInvalid with Zendesk's details."""
    field = zd.user_fields.create(UserField(key="cl_nps_last_score", type="integer",
                                            title="Last NPS score"))
    assert (field.key, field.type) == ("cl_nps_last_score", "integer")
    with pytest.raises(APIException) as dup:
        zd.user_fields.create(UserField(key="cl_nps_last_score", type="integer", title="x"))
    assert dup.value.response.status_code == 422
    assert dup.value.response.json()["details"]["key"][0]["error"] == "DuplicateValue"
    with pytest.raises(APIException) as bad:
        zd.user_fields.create(UserField(key="cl_other", type="number", title="x"))
    assert bad.value.response.json()["error"] == "RecordInvalid"
    assert list(bad.value.response.json()["details"]) == ["type"]
    assert [f.key for f in zd.user_fields()] == ["plan", "account_manager", "region",
                                                 "cl_nps_last_score"]


def test_update_many_job_runs_to_completion_with_per_user_failures(
        zd: Any, zd_state: ZendeskState) -> None:
    """queued -> working -> completed; a bad value and an unknown id fail alone, with
    Zendesk's result shape, and the good user is written."""
    zd_state.create_user_field({"key": "cl_nps", "type": "integer", "title": "NPS"})
    zd_state.create_user_field({"key": "cl_date", "type": "date", "title": "When"})
    good, bad = sorted(u for u in zd_state.users if zd_state.users[u].role == "end-user")[:2]
    job = zd.users.update([User(id=good, user_fields={"cl_nps": 9, "cl_date": "2026-11-20"}),
                           User(id=bad, user_fields={"cl_nps": "nine"}),
                           User(id=5, user_fields={"cl_nps": 1})])
    assert (job.status, job.total, job.results) == ("queued", 3, None)
    assert zd.job_status(id=job.id).status == "working"
    done = zd.job_status(id=job.id)
    assert done.status == "completed"
    assert done.progress == 3
    results = [r.to_dict() for r in done.results]
    assert [(r["id"], r["index"], r["success"]) for r in results] == [
        (good, 0, True), (bad, 1, False), (5, 2, False)]
    assert results[0]["status"] == "Updated"
    assert (results[1]["error"], results[1]["details"]) == ("UserUpdateFailed",
                                                            "cl_nps: is not a number")
    assert results[2]["error"] == "RecordNotFound"
    assert zd_state.user(str(good))["user_fields"]["cl_nps"] == 9
    assert zd_state.user(str(bad))["user_fields"]["cl_nps"] is None


def test_show_many_job_statuses_follows_jobs_together(zd: Any, zd_sandbox: ZendeskSandbox,
                                                      zd_state: ZendeskState) -> None:
    """zenpy's job_status(ids=...) is Show Many Job Statuses: one counted request answers
    {"job_statuses": [...]} in the order asked, moves every job on by one poll, and leaves
    unknown ids out instead of refusing the request."""
    first, second = sorted(u for u in zd_state.users if zd_state.users[u].role == "end-user")[:2]
    jobs = [zd.users.update([User(id=uid, tags=["cl_x"])]) for uid in (first, second)]
    zd_sandbox.reset_calls()
    wanted = [jobs[1].id, "0123456789abcdef", jobs[0].id]

    working = zd.job_status(ids=wanted)["job_statuses"]
    done = zd.job_status(ids=wanted)["job_statuses"]

    assert [(j.id, j.status) for j in working] == [(jobs[1].id, "working"),
                                                   (jobs[0].id, "working")]
    assert [(j.id, j.status, j.progress) for j in done] == [(jobs[1].id, "completed", 1),
                                                            (jobs[0].id, "completed", 1)]
    assert [[r.to_dict()["id"] for r in j.results] for j in done] == [[second], [first]]
    assert zd_sandbox.calls_snapshot() == {"GET /api/v2/job_statuses/show_many.json": 2}
    raw = zd_http(zd_sandbox, "GET", "/api/v2/job_statuses/show_many.json",
                  params={"ids": f"{jobs[0].id},nope"}).json()
    assert list(raw) == ["job_statuses"]
    assert [j["id"] for j in raw["job_statuses"]] == [jobs[0].id]
    assert raw["job_statuses"][0]["url"].endswith(f"/api/v2/job_statuses/{jobs[0].id}.json")
    assert zd_http(zd_sandbox, "GET", "/api/v2/job_statuses/show_many.json",
                   params={"ids": "nope,gone"}).json() == {"job_statuses": []}


@pytest.mark.parametrize(("field", "value", "problem"), [
    ({"key": "n", "type": "integer", "title": "N"}, 1.5, "n: is not a number"),
    ({"key": "d", "type": "date", "title": "D"}, "2026-13-01", "d: is not a date (YYYY-MM-DD)"),
    ({"key": "s", "type": "dropdown", "title": "S", "custom_field_options": [
        {"name": "Promoter", "value": "promoter"}]}, "fan", "s: 'fan' is not one of the options"),
    ({"key": "t", "type": "text", "title": "T"}, {"a": 1}, "t: is not a text value"),
    (None, 1, "nope: is not a user field"),
])
def test_single_user_update_validates_each_field_type(
        zd_sandbox: ZendeskSandbox, zd_state: ZendeskState, field: dict[str, Any] | None,
        value: Any, problem: str) -> None:
    """A value that does not fit its field is a 422 RecordInvalid; nothing is written."""
    uid = sorted(zd_state.users)[-1]
    key = field["key"] if field else "nope"
    if field:
        zd_state.create_user_field(field)
    answer = zd_http(zd_sandbox, "PUT", f"/api/v2/users/{uid}.json",
                     json={"user": {"user_fields": {key: value}}})
    assert answer.status_code == 422
    assert answer.json()["details"]["user_fields"][0]["description"] == problem


def test_null_blanks_a_field_and_good_values_are_stored(zd: Any,
                                                        zd_state: ZendeskState) -> None:
    uid = sorted(zd_state.users)[-1]
    zd.users.update(User(id=uid, user_fields={"plan": "pro", "account_manager": "Kim"}))
    user = zd.users.update(User(id=uid, user_fields={"plan": None}))
    region = zd_state.users[uid].user_fields.get("region")  # seeded, untouched
    assert user.user_fields == {"plan": None, "account_manager": "Kim", "region": region}


# ------------------------------------------------------------------ tickets
def test_tags_private_note_and_closed_ticket_refusal(zd: Any,
                                                     zd_state: ZendeskState) -> None:
    """add_tags adds; a private note is stored private and authored by the token's agent; a
    closed ticket refuses both with 422 "closed prevents ticket update"."""
    solved = next(t for t in zd_state.tickets.values() if t.status == "solved")
    closed = next(t for t in zd_state.tickets.values() if t.status == "closed")
    before = list(solved.tags)
    zd.tickets.add_tags(solved.id, ["CL_NPS_Detractor"])
    assert zd_state.ticket(str(solved.id))["tags"] == [*before, "cl_nps_detractor"]
    audit = zd.tickets.update(Ticket(id=solved.id, comment=Comment(body="NPS 3", public=False),
                                     additional_tags=["cl_answered"]))
    assert audit.ticket.status == "solved"
    assert audit.ticket.tags[-2:] == ["cl_nps_detractor", "cl_answered"]
    note = zd_state.comments(str(solved.id))[-1]
    assert (note["body"], note["public"], note["author_id"]) == (
        "NPS 3", False, zd.users.me().id)
    for attempt in (lambda: zd.tickets.add_tags(closed.id, ["x"]),
                    lambda: zd.tickets.update(Ticket(id=closed.id,
                                                     comment=Comment(body="x", public=False)))):
        with pytest.raises(APIException) as refused:
            attempt()
        assert refused.value.response.status_code == 422
        assert refused.value.response.json()["details"]["status"][0]["description"] == (
            "Status: closed prevents ticket update")
    assert "x" not in zd_state.ticket(str(closed.id))["tags"]


def test_tickets_update_many_fails_closed_ones_alone(zd: Any, zd_state: ZendeskState) -> None:
    solved = next(t for t in zd_state.tickets.values() if t.status == "solved")
    closed = next(t for t in zd_state.tickets.values() if t.status == "closed")
    job = zd.tickets.update([Ticket(id=solved.id, additional_tags=["cl_csat_bad"]),
                             Ticket(id=closed.id, additional_tags=["cl_csat_bad"])])
    zd.job_status(id=job.id)
    results = [r.to_dict() for r in zd.job_status(id=job.id).results]
    assert [(r["id"], r["success"]) for r in results] == [(solved.id, True), (closed.id, False)]
    assert results[1]["details"] == "Status: closed prevents ticket update"
    assert "cl_csat_bad" in zd_state.ticket(str(solved.id))["tags"]
    assert "cl_csat_bad" not in zd_state.ticket(str(closed.id))["tags"]
