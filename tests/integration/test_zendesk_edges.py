"""ZendeskAdapter edge cases over canned HTTP (`responses`, strict): what the sandbox
cannot easily produce. zenpy runs for real; only the HTTP answers are canned, at the real
https://<subdomain>.zendesk.com URLs (no ZENPY_FORCE_* override in these tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import structlog
from responses import matchers

from closedloop.integration.base import ContactUpdate, MemberSelection, PropertySpec, TicketUpdate
from closedloop.integration.errors import (
    AuthError,
    ConfigError,
    PartialWrite,
    RateLimited,
    RecordRejected,
    TransientError,
)
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.zendesk import ZendeskAdapter, _jobs
from closedloop.integration.zendesk._transport import NETLOC_ENV, SCHEME_ENV

API = "https://acme.zendesk.com/api/v2"
TOKEN = "zd-secret-token-123"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EXPORT = f"{API}/incremental/tickets/cursor.json"


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NETLOC_ENV, raising=False)
    monkeypatch.delenv(SCHEME_ENV, raising=False)


@pytest.fixture(autouse=True)
def _zenpy_never_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """zenpy's own 429 loop must never run: fail loudly if it tries to sleep."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"zenpy slept {seconds} s on its own")

    monkeypatch.setattr("zenpy.lib.api.sleep", refuse)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def zd(policy: RetryPolicy, sleeps: list[float]) -> Iterator[ZendeskAdapter]:
    """Writes go through update_many jobs whatever their size (these tests pin the jobs)."""
    with ZendeskAdapter("zendesk", subdomain="acme", email="admin@acme.example", token=TOKEN,
                        retry=policy, sleep=sleeps.append, job_poll_interval=2.0, job_timeout=6.0,
                        clock=lambda: NOW, single_max=0) as adapter:
        yield adapter


def _page(tickets: list[dict[str, object]], after: str | None, end: bool,
          metric_sets: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {"tickets": tickets, "after_cursor": after, "before_cursor": None,
            "after_url": f"{EXPORT}?cursor={after}" if after else None, "before_url": None,
            "end_of_stream": end, "metric_sets": metric_sets or []}


def _ticket(tid: int, status: str = "solved") -> dict[str, object]:
    return {"id": tid, "status": status, "subject": f"t{tid}", "requester_id": 100 + tid,
            "assignee_id": 7, "group_id": 8, "brand_id": 1, "organization_id": None,
            "updated_at": "2026-05-01T09:00:00Z"}


def test_429_waits_retry_after_seconds_then_succeeds(
        mock: responses.RequestsMock, zd: ZendeskAdapter, sleeps: list[float]) -> None:
    """A 429 is answered by the retry policy with the server's Retry-After (zenpy never
    sleeps itself), and both attempts are counted."""
    mock.get(f"{API}/users/show_many.json", status=429, headers={"Retry-After": "7"},
             json={"error": "TooManyRequests"})
    mock.get(f"{API}/users/show_many.json", json={"users": [{"id": 5, "email": "a@b.example",
                                                             "name": "Ada Doe"}]})
    found = zd.contacts(["5"])
    assert list(found) == ["5"]
    assert sleeps == [7.0]
    assert zd.calls_by_endpoint() == {"users_show_many": 2}


def test_429_with_http_date_retry_after(mock: responses.RequestsMock, zd: ZendeskAdapter,
                                        sleeps: list[float]) -> None:
    """Retry-After as an HTTP date (zenpy would crash on int()) becomes seconds to wait."""
    when = datetime.now(UTC) + timedelta(seconds=30)
    mock.get(f"{API}/users/show_many.json", status=429,
             headers={"Retry-After": format_datetime(when, usegmt=True)})
    mock.get(f"{API}/users/show_many.json", json={"users": []})
    assert zd.contacts(["5"]) == {}
    assert len(sleeps) == 1
    assert 25 <= sleeps[0] <= 31


def test_429_longer_than_the_budget_raises_rate_limited(mock: responses.RequestsMock,
                                                        zd: ZendeskAdapter) -> None:
    """A wait beyond the policy's delay budget is raised at once so the job can pause."""
    mock.get(f"{API}/users/show_many.json", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as caught:
        zd.contacts(["5"])
    assert caught.value.retry_after == 3600.0


def test_401_is_auth_error_and_check_online_says_so(mock: responses.RequestsMock,
                                                    zd: ZendeskAdapter) -> None:
    """401 → AuthError (not retried); check_online turns it into one clear sentence."""
    mock.get(f"{API}/users/show_many.json", status=401, json={"error": "Couldn't authenticate you"})
    mock.get(f"{API}/users/me.json", status=401, json={"error": "Couldn't authenticate you"})
    with pytest.raises(AuthError, match="401"):
        zd.contacts(["5"])
    check = zd.check_online([], ["cl_nps_score"])
    assert not check.ok
    assert check.problems[0].startswith("Zendesk refused the e-mail address and API token")
    assert zd.call_count() == 2


def test_5xx_and_non_json_errors_are_retried(mock: responses.RequestsMock, zd: ZendeskAdapter,
                                             sleeps: list[float]) -> None:
    """503 with JSON and a 502 HTML page (zenpy's HTTPError path) are retried with backoff."""
    mock.get(f"{API}/tickets/show_many.json", status=503, json={"error": "Unavailable"})
    mock.get(f"{API}/tickets/show_many.json", status=502, body="<html>bad gateway</html>")
    mock.get(f"{API}/tickets/show_many.json", json={"tickets": [_ticket(1), _ticket(2, "open")]})
    assert zd.reopened(["1", "2", "3"]) == {"2", "3"}
    assert len(sleeps) == 2
    assert zd.calls_by_endpoint() == {"tickets_show_many": 3}


def test_a_2xx_that_is_not_json_is_retried(mock: responses.RequestsMock, zd: ZendeskAdapter,
                                          sleeps: list[float]) -> None:
    """A 200 whose body is a proxy's HTML page (read as JSON now, no longer by zenpy's
    response handlers): transient, retried with backoff, then the real answer is used."""
    mock.get(f"{API}/tickets/show_many.json", status=200, body="<html>login</html>")
    mock.get(f"{API}/tickets/show_many.json", json={"tickets": [_ticket(1), _ticket(2, "open")]})
    assert zd.reopened(["1", "2"]) == {"2"}
    assert (len(sleeps), zd.calls_by_endpoint()) == (1, {"tickets_show_many": 2})


def test_timeouts_are_transient_and_bounded(mock: responses.RequestsMock, zd: ZendeskAdapter,
                                            policy: RetryPolicy) -> None:
    """A timeout on every attempt ends in TransientError after max_attempts."""
    for _ in range(policy.max_attempts):
        mock.get(f"{API}/users/show_many.json", body=requests.ConnectTimeout("slow"))
    with pytest.raises(TransientError, match="ConnectTimeout"):
        zd.contacts(["5"])
    assert zd.call_count() == policy.max_attempts


def test_404_and_422_are_specific_rejections(mock: responses.RequestsMock,
                                             zd: ZendeskAdapter) -> None:
    """404 and 422 raise RecordRejected with the status and Zendesk's words; not retried."""
    mock.get(f"{API}/organizations/42/users.json", status=404,
             json={"error": "RecordNotFound", "description": "Not found"})
    mock.get(f"{API}/search/export.json", status=422,
             json={"error": "InvalidValue", "description": "bad query from x@y.example"})
    with pytest.raises(RecordRejected) as missing:
        list(zd.members(MemberSelection(organization_id="42")))
    assert (missing.value.status, str(missing.value)) == (
        404, "Zendesk organization_users answered 404: RecordNotFound: Not found")
    with pytest.raises(RecordRejected) as invalid:
        list(zd.members(MemberSelection(query="role:end-user")))
    assert invalid.value.status == 422
    assert "<email>" in str(invalid.value)
    assert "x@y.example" not in str(invalid.value)


def test_export_cursor_is_url_encoded(mock: responses.RequestsMock,
                                                        zd: ZendeskAdapter) -> None:
    """A cursor with '+', '/' and '=' must reach Zendesk intact (zenpy put it in the URL
    raw), with the page size along. The page's own after_cursor is the one handed out."""
    raw = "MTU+4MD/c1=="
    mock.get(EXPORT, match=[matchers.query_param_matcher(
        {"cursor": raw, "include": "metric_sets,users", "per_page": "1000"})],
        json=_page([_ticket(1)], "NEXT+1=", end=True))
    pages = list(zd.closed_tickets(json.dumps({"v": 1, "cursor": raw})))
    assert [json.loads(p.cursor) for p in pages] == [{"v": 1, "cursor": "NEXT+1="}]


def test_first_poll_starts_at_start_time_with_page_size(mock: responses.RequestsMock,
                                                        policy: RetryPolicy) -> None:
    """No cursor: the export starts `lookback` before now, with per_page and the metric
    sideload; closed_at is the metric set's solved_at, else updated_at."""
    mock.get(EXPORT, match=[matchers.query_param_matcher(
        {"start_time": str(int((NOW - timedelta(hours=2)).timestamp())), "per_page": "50",
         "include": "metric_sets,users"})],
        json=_page([_ticket(1), _ticket(2, "closed"), _ticket(3, "deleted")], "C1", end=True,
                   metric_sets=[{"ticket_id": 1, "solved_at": "2026-05-01T08:00:00Z"}]))
    with ZendeskAdapter("zendesk", subdomain="acme", email="a@acme.example", token=TOKEN,
                        retry=policy, page_size=50, lookback=timedelta(hours=2),
                        clock=lambda: NOW) as adapter:
        (page,) = list(adapter.closed_tickets(None))
    assert [(t.id, t.stage, t.closed_at.hour) for t in page.tickets] == [
        ("1", "solved", 8), ("2", "closed", 9)]
    first = page.tickets[0]
    assert (first.pipeline, first.owner_id, first.team_id, first.contact_ids) == (
        "1", "7", "8", ("101",))


def test_repeated_export_cursor_is_an_error(mock: responses.RequestsMock,
                                            zd: ZendeskAdapter) -> None:
    """A server handing out the same cursor again would loop forever: raise instead."""
    mock.get(EXPORT, json=_page([_ticket(1)], "SAME", end=False))
    mock.get(EXPORT, json=_page([_ticket(2)], "SAME", end=False))
    pages = zd.closed_tickets(json.dumps({"v": 1, "cursor": "A"}))
    assert [t.id for t in next(pages).tickets] == ["1"]
    with pytest.raises(TransientError, match="repeated the cursor"):
        next(pages)


@pytest.mark.parametrize("stored", ["not json", '{"v": 2, "cursor": "x"}', '{"v": 1}', "[]"])
def test_damaged_cursor_is_a_config_error(zd: ZendeskAdapter, stored: str) -> None:
    with pytest.raises(ConfigError, match="stored ticket cursor is not valid"):
        list(zd.closed_tickets(stored))


def _status(status: str, results: list[dict[str, object]] | None = None,
            job_id: str = "J1") -> dict[str, object]:
    return {"id": job_id, "status": status, "total": 1, "progress": 0, "results": results,
            "url": f"{API}/job_statuses/{job_id}.json"}


def _job(status: str, results: list[dict[str, object]] | None = None,
         job_id: str = "J1") -> dict[str, object]:
    return {"job_status": _status(status, results, job_id)}


def _show_many(mock: responses.RequestsMock, ids: str, *statuses: dict[str, object],
               status: int = 200) -> None:
    """One Show Many Job Statuses answer, for exactly these ids (in this order)."""
    body: dict[str, object] = ({"job_statuses": list(statuses)} if status == 200
                               else {"error": "RecordNotFound", "description": "Not found"})
    mock.get(f"{API}/job_statuses/show_many.json", status=status, json=body,
             match=[matchers.query_param_matcher({"ids": ids})])


def test_job_still_running_at_timeout_is_transient(mock: responses.RequestsMock,
                                                   zd: ZendeskAdapter, sleeps: list[float]) -> None:
    """Polling is bounded by job_timeout (6 s at 2 s intervals: 3 polls), then the rows
    are handed back for a retry."""
    mock.put(f"{API}/users/update_many.json", json=_job("queued"))
    for _ in range(3):
        _show_many(mock, "J1", _status("working"))
    with pytest.raises(TransientError, match="still working after 6 s"):
        zd.write_contacts([ContactUpdate("5", {"cl_nps_score": "9"})])
    assert sleeps == [2.0, 2.0, 2.0]


def test_killed_job_is_transient(mock: responses.RequestsMock, zd: ZendeskAdapter) -> None:
    mock.put(f"{API}/tickets/update_many.json", json=_job("killed"))
    with pytest.raises(TransientError, match="J1 killed"):
        zd.update_tickets([TicketUpdate("5", add_tags=("cl_detractor",))])


def test_job_results_by_index_and_blanking(mock: responses.RequestsMock,
                                           zd: ZendeskAdapter) -> None:
    """An empty value is sent as null; a failed result without an id maps back by index;
    the request body is exactly what Zendesk expects."""
    body = {"users": [{"id": 5, "user_fields": {"cl_nps_score": "9", "cl_nps_comment": None}},
                      {"id": 6, "user_fields": {"cl_nps_score": "x"}}]}
    mock.put(f"{API}/users/update_many.json", match=[matchers.json_params_matcher(body)],
             json=_job("completed", [
                 {"id": 5, "index": 0, "status": "Updated", "success": True},
                 {"index": 1, "error": "InvalidValue", "details": "cl_nps_score: is not a number",
                  "success": False}]))
    result = zd.write_contacts([ContactUpdate("5", {"cl_nps_score": "9", "cl_nps_comment": ""}),
                                ContactUpdate("6", {"cl_nps_score": "x"})])
    assert result.written == ["5"]
    assert result.rejected == {"6": "InvalidValue: cl_nps_score: is not a number"}


def test_token_never_in_repr_or_logs(mock: responses.RequestsMock, zd: ZendeskAdapter) -> None:
    """The token stays out of repr and of every log event, even on failures."""
    mock.get(f"{API}/users/show_many.json", status=500, json={"error": "boom"})
    mock.get(f"{API}/users/show_many.json", status=500, json={"error": "boom"})
    mock.get(f"{API}/users/show_many.json", status=500, json={"error": "boom"})
    mock.get(f"{API}/users/show_many.json", status=500, json={"error": "boom"})
    with structlog.testing.capture_logs() as logs, pytest.raises(TransientError):
        zd.contacts(["5"])
    assert TOKEN not in repr(zd)
    assert logs
    assert TOKEN not in json.dumps(logs, default=str)
    sent = str(mock.calls[0].request.headers["Authorization"])
    assert sent.startswith("Basic ")


def test_members_rejects_hubspot_lists_and_ambiguous_selections(zd: ZendeskAdapter) -> None:
    with pytest.raises(ConfigError, match="list_id selects HubSpot list members"):
        list(zd.members(MemberSelection(list_id="12")))
    with pytest.raises(ConfigError, match="exactly one"):
        list(zd.members(MemberSelection(tag="vip", query="role:end-user")))
    with pytest.raises(ConfigError, match="not one Zendesk tag"):
        list(zd.members(MemberSelection(tag="two words")))
    assert zd.call_count() == 0


def test_bad_field_type_fails_before_any_call(zd: ZendeskAdapter) -> None:
    spec = PropertySpec("cl_nps_score", "NPS", type="number", field_type="number")
    with pytest.raises(ConfigError, match="not a Zendesk user field type"):
        zd.ensure_properties("ignored", "ignored", [spec])
    assert zd.call_count() == 0


def test_search_export_query_and_type_filter(mock: responses.RequestsMock,
                                             zd: ZendeskAdapter) -> None:
    """A tag selection is a user search export: query tags:<tag>, filter[type]=user."""
    mock.get(f"{API}/search/export.json", json={
        "results": [{"id": 9, "name": "Bo Ek", "email": "bo@x.example", "locale": "nb",
                     "result_type": "user"}],
        "meta": {"has_more": False, "after_cursor": None}, "links": {"next": None}})
    pages = list(zd.members(MemberSelection(tag="vip")))
    query = parse_qs(urlsplit(str(mock.calls[0].request.url)).query)
    assert query["filter[type]"] == ["user"]
    assert query["query"][0].split() == ["tags:vip", "type:user"]
    assert [[(c.id, c.language) for c in page] for page in pages] == [[("9", "nb")]]


def test_expired_job_status_is_transient(mock: responses.RequestsMock, zd: ZendeskAdapter) -> None:
    """Zendesk forgets job statuses (latest 100, about an hour): a 404 while polling means
    the outcome is unknown, so the rows are retried rather than counted as refused."""
    mock.put(f"{API}/users/update_many.json", json=_job("queued"))
    _show_many(mock, "J1")  # left out of the answer
    with pytest.raises(TransientError, match="J1 status is gone"):
        zd.write_contacts([ContactUpdate("5", {"cl_nps_score": "9"})])


def test_show_many_404_means_every_asked_job_is_gone(mock: responses.RequestsMock,
                                                     zd: ZendeskAdapter) -> None:
    """A 404 for the whole show_many request is not a refusal of the rows: they are
    unknown and handed back, not rejected."""
    mock.put(f"{API}/users/update_many.json", json=_job("queued"))
    _show_many(mock, "J1", status=404)
    with pytest.raises(PartialWrite, match="J1 status is gone") as raised:
        zd.write_contacts([ContactUpdate("5", {"cl_nps_score": "9"})])
    assert (raised.value.written, raised.value.rejected, raised.value.pending) == ([], {}, ["5"])


def _users_job(job_id: str, first: int, count: int) -> dict[str, object]:
    return _status("completed", [{"id": first + i, "index": i, "status": "Updated",
                                  "success": True} for i in range(count)], job_id)


def test_jobs_are_followed_together_and_fail_alone(mock: responses.RequestsMock,
                                                   zd: ZendeskAdapter,
                                                   sleeps: list[float]) -> None:
    """250 users: three jobs submitted before any poll, then one show_many per round for
    the jobs still open. J1 completes, J2 is forgotten, J3 is killed: the raise names J2
    and J3, hands back exactly their 150 users and keeps J1's 100 as settled."""
    for job_id in ("J1", "J2", "J3"):
        mock.put(f"{API}/users/update_many.json", json=_job("queued", job_id=job_id))
    _show_many(mock, "J1,J2,J3", _status("working"), _status("working", job_id="J2"),
               _status("working", job_id="J3"))
    _show_many(mock, "J1,J2,J3", _users_job("J1", 1000, 100),
               _status("killed", job_id="J3"))
    updates = [ContactUpdate(str(1000 + i), {"cl_nps_score": "9"}) for i in range(250)]

    with pytest.raises(PartialWrite) as raised:
        zd.write_contacts(updates)

    assert str(raised.value).startswith("Zendesk job J2 status is gone")
    assert "Zendesk job J3 killed" in str(raised.value)
    assert raised.value.pending == [str(1000 + i) for i in range(100, 250)]
    assert raised.value.written == [str(1000 + i) for i in range(100)]
    assert raised.value.rejected == {}
    assert [c.request.method for c in mock.calls] == ["PUT"] * 3 + ["GET"] * 2
    assert sleeps == [2.0, 2.0]
    assert zd.calls_by_endpoint() == {"users_update_many": 3, "job_statuses_show_many": 2}


def test_check_online_refuses_an_end_user_token(mock: responses.RequestsMock,
                                                zd: ZendeskAdapter) -> None:
    """A token whose user is an end-user authenticates but can do nothing we need."""
    mock.get(f"{API}/users/me.json", json={"user": {"id": 3, "role": "end-user"}})
    check = zd.check_online([], [])
    assert not check.ok
    assert check.problems == ["the token's user is end-user, not an admin or agent: it cannot "
                              "read tickets or write user fields"]


def _tickets_job(job_id: str, first: int, count: int) -> dict[str, object]:
    return _status("completed", [{"id": first + i, "index": i, "status": "Updated",
                                  "success": True} for i in range(count)], job_id)


def test_a_429_after_the_first_job_stops_submitting_and_hands_back_only_the_rest(
        mock: responses.RequestsMock, zd: ZendeskAdapter) -> None:
    """The second submit is refused with a wait beyond the retry budget: no third submit,
    the first job is still followed to its end, and PartialWrite names its 100 tickets
    written, the id the adapter refused itself, and the 150 unsent ones pending, with
    Zendesk's wait for the retry."""
    mock.put(f"{API}/tickets/update_many.json", json=_job("queued", job_id="J1"))
    mock.put(f"{API}/tickets/update_many.json", status=429, headers={"Retry-After": "600"},
             json={"error": "APIRateLimitExceeded"})
    _show_many(mock, "J1", _tickets_job("J1", 1000, 100))
    updates = [TicketUpdate(str(1000 + i), note="hi") for i in range(250)]

    with pytest.raises(PartialWrite, match="stopped submitting") as raised:
        zd.update_tickets([*updates, TicketUpdate("abc", note="hi")])

    assert raised.value.written == [str(1000 + i) for i in range(100)]
    assert raised.value.rejected == {"abc": "not a Zendesk ticket id"}
    assert raised.value.pending == [str(1000 + i) for i in range(100, 250)]
    assert raised.value.retry_after == 600.0
    assert zd.calls_by_endpoint() == {"tickets_update_many": 2, "job_statuses_show_many": 1}


def test_unreadable_job_statuses_leave_only_the_open_jobs_pending(
        mock: responses.RequestsMock, zd: ZendeskAdapter, policy: RetryPolicy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One job at a time (job limit 1): J1 completes; then every status read of J2 fails
    (500s past the retry budget). J1's users are written, J2's are pending, and the third
    chunk is never submitted (it could not be followed either): pending too."""
    monkeypatch.setattr(_jobs, "MAX_IN_FLIGHT", 1)
    for job_id in ("J1", "J2"):
        mock.put(f"{API}/users/update_many.json", json=_job("queued", job_id=job_id))
    _show_many(mock, "J1", _users_job("J1", 1000, 100))
    for _ in range(policy.max_attempts):
        _show_many(mock, "J2", status=500)
    updates = [ContactUpdate(str(1000 + i), {"cl_nps_score": "9"}) for i in range(250)]

    with pytest.raises(PartialWrite, match="statuses unreadable") as raised:
        zd.write_contacts(updates)

    assert raised.value.written == [str(1000 + i) for i in range(100)]
    assert raised.value.pending == [str(1000 + i) for i in range(100, 250)]
    assert raised.value.retry_after is None
    assert zd.calls_by_endpoint() == {"users_update_many": 2,
                                      "job_statuses_show_many": 1 + policy.max_attempts}


def test_a_failed_first_submit_is_raised_as_it_is(mock: responses.RequestsMock,
                                                  zd: ZendeskAdapter,
                                                  policy: RetryPolicy) -> None:
    """Nothing submitted, nothing settled: nothing of the call landed, so the plain
    TransientError says "retry it all" (not a PartialWrite)."""
    for _ in range(policy.max_attempts):
        mock.put(f"{API}/users/update_many.json", status=503, json={"error": "down"})
    with pytest.raises(TransientError) as raised:
        zd.write_contacts([ContactUpdate("5", {"cl_nps_score": "9"})])
    assert not isinstance(raised.value, PartialWrite)
