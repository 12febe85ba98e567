"""Auth, rate limits, injected failures, counters and bad requests on the Zendesk sandbox."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
import requests
from sandbox_support import make_zenpy, zd_http
from zenpy.lib.exception import (
    APIException,
    RatelimitBudgetExceeded,
    RecordNotFoundException,
    TooManyValuesException,
)

from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState, serve

EXPORT = "/api/v2/incremental/tickets/cursor.json"


def test_wrong_token_is_401_and_bearer_works(zd_sandbox: ZendeskSandbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(APIException) as refused:
        make_zenpy(zd_sandbox, monkeypatch, token="wrong").users.me()
    assert refused.value.response.status_code == 401
    assert refused.value.response.json() == {"error": "Couldn't authenticate you"}
    assert zd_http(zd_sandbox, "GET", "/api/v2/users/me.json", auth=False).status_code == 401
    bearer = zd_http(zd_sandbox, "GET", "/api/v2/users/me.json", auth=False,
                     headers={"Authorization": f"Bearer {zd_sandbox.token}"})
    assert bearer.json()["user"]["email"] == zd_sandbox.email


def test_incremental_bucket_429_with_retry_after(zd_state: ZendeskState,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The export allows N calls a minute on its own bucket: the next is a 429 with
    Retry-After in whole seconds; other endpoints still answer; zenpy waits (sleep is
    patched) and retries, and gives up when its budget runs out."""
    with ZendeskSandbox(zd_state, incremental_per_minute=2) as sb:
        for _ in range(2):
            assert zd_http(sb, "GET", EXPORT, params={"start_time": 0}).status_code == 200
        refused = zd_http(sb, "GET", EXPORT, params={"start_time": 0})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"] == "APIRateLimitExceeded"
        assert zd_http(sb, "GET", "/api/v2/users/me.json").status_code == 200
        waits: list[float] = []
        monkeypatch.setattr("zenpy.lib.api.sleep", waits.append)
        with pytest.raises(RatelimitBudgetExceeded):
            list(make_zenpy(sb, monkeypatch, ratelimit_budget=3).tickets.incremental(
                start_time=0))
        assert sb.throttled[f"GET {EXPORT}"] >= 2
        monkeypatch.setattr("zenpy.lib.api.sleep", lambda _s: sb.reset_limits())
        assert len(list(make_zenpy(sb, monkeypatch).tickets.incremental(start_time=0))) == 40


def test_account_limit_headers_and_429(zd_state: ZendeskState) -> None:
    with ZendeskSandbox(zd_state, rate_limit_per_minute=3) as sb:
        seen = [zd_http(sb, "GET", "/api/v2/users/me.json") for _ in range(3)]
        assert [r.headers["X-Rate-Limit-Remaining"] for r in seen] == ["2", "1", "0"]
        assert {r.headers["X-Rate-Limit"] for r in seen} == {"3"}
        refused = zd_http(sb, "GET", "/api/v2/user_fields.json")
        assert (refused.status_code, refused.headers["X-Rate-Limit-Remaining"]) == (429, "0")
        assert int(refused.headers["Retry-After"]) >= 1
        assert sb.throttled == {"GET /api/v2/user_fields.json": 1}
        sb.reset_limits()
        assert zd_http(sb, "GET", "/api/v2/users/me.json").status_code == 200


def test_fail_next_injects_5xx_and_429(zd: Any, zd_sandbox: ZendeskSandbox,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Injected failures hit only matching paths, in order; a 429 with Retry-After is
    retried by zenpy, a 503 surfaces as APIException."""
    zd_sandbox.fail_next(1, 503, path_prefix="/api/v2/users/me")
    assert len(list(zd.user_fields())) == 3  # other paths are untouched
    with pytest.raises(APIException) as failed:
        zd.users.me()
    assert failed.value.response.status_code == 503
    assert failed.value.response.json()["error"] == "ServiceUnavailable"
    zd_sandbox.fail_next(2, 429, retry_after=1)
    waits: list[float] = []
    monkeypatch.setattr("zenpy.lib.api.sleep", waits.append)
    assert zd.users.me().email == zd_sandbox.email
    assert waits == [1, 1]
    assert zd_sandbox.throttled["GET /api/v2/users/me.json"] == 2


def test_call_counters_and_admin_endpoint(zd: Any, zd_sandbox: ZendeskSandbox) -> None:
    """Each call counts under its path template, unknown paths too; /_sandbox/calls
    reports without being counted and DELETE resets."""
    ids = sorted(zd_sandbox.state.users)[:2]
    zd.users(id=ids[0])
    zd.users(id=ids[1])
    zd_http(zd_sandbox, "GET", "/api/v2/nothing.json")
    assert zd_sandbox.calls_snapshot() == {"GET /api/v2/users/{id}.json": 2,
                                           "GET <unknown>": 1}
    report = requests.get(zd_sandbox.url + "/_sandbox/calls", timeout=5).json()
    assert (report["total"], report["throttled"]) == (3, {})
    assert zd_sandbox.total_calls() == 3
    assert requests.delete(zd_sandbox.url + "/_sandbox/calls", timeout=5).status_code == 200
    assert zd_sandbox.total_calls() == 0


def test_error_shapes(zd: Any, zd_sandbox: ZendeskSandbox) -> None:
    """Missing records raise zenpy's RecordNotFoundException, over-long id lists its
    TooManyValuesException; unknown paths and bad JSON answer like Zendesk."""
    with pytest.raises(RecordNotFoundException):
        zd.users(id=12345)
    with pytest.raises(TooManyValuesException):
        list(zd.users(ids=list(range(1, 102))))
    unknown = zd_http(zd_sandbox, "GET", "/api/v2/nothing.json")
    assert (unknown.status_code, unknown.json()) == (
        404, {"error": "InvalidEndpoint", "description": "Not found"})
    missing = zd_http(zd_sandbox, "GET", "/api/v2/tickets/999999.json")
    assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}
    bad_json = zd_http(zd_sandbox, "PUT", "/api/v2/users/1.json", data=b"{not json",
                       headers={"Content-Type": "application/json"})
    assert (bad_json.status_code, bad_json.json()["error"]) == (400, "InvalidValue")
    too_many = zd_http(zd_sandbox, "PUT", "/api/v2/users/update_many.json",
                       json={"users": [{"id": i, "user_fields": {}} for i in range(1, 102)]})
    assert (too_many.status_code, too_many.json()["error"]) == (400, "TooManyValues")


BAD = "InvalidValue"
INVALID = "RecordInvalid"


@pytest.mark.parametrize(("method", "path", "kwargs", "expected"), [
    ("GET", EXPORT, {}, (400, BAD)),
    ("GET", EXPORT, {"params": {"start_time": 0, "cursor": "x"}}, (400, BAD)),
    ("GET", EXPORT, {"params": {"cursor": "not-a-cursor"}}, (400, "InvalidPaginationParameter")),
    ("GET", EXPORT, {"params": {"start_time": "-5"}}, (400, BAD)),
    ("GET", EXPORT, {"params": {"start_time": 0, "per_page": "many"}}, (400, BAD)),
    ("GET", "/api/v2/tickets/abc.json", {}, (404, "RecordNotFound")),
    ("GET", "/api/v2/tickets/show_many.json", {"params": {"ids": "1,x"}}, (400, BAD)),
    ("GET", "/api/v2/users/show_many.json", {}, (400, BAD)),
    ("PUT", "/api/v2/tickets/{open}.json", {"json": {"ticket": []}}, (400, BAD)),
    ("PUT", "/api/v2/tickets/{open}.json", {"json": {"ticket": {"tags": "a b"}}}, (422, INVALID)),
    ("PUT", "/api/v2/tickets/{open}.json", {"json": {"ticket": {"status": "gone"}}},
     (422, INVALID)),
    ("PUT", "/api/v2/tickets/{open}.json", {"json": {"ticket": {"comment": {"body": ""}}}},
     (422, INVALID)),
    ("PUT", "/api/v2/tickets/{open}.json", {"json": [1, 2]}, (400, BAD)),
    ("PUT", "/api/v2/tickets/{open}/tags.json", {"json": {"tags": {"a": 1}}}, (400, BAD)),
    ("PUT", "/api/v2/tickets/update_many.json", {"json": {"tickets": [{"id": "1"}]}},
     (400, BAD)),
    ("PUT", "/api/v2/users/update_many.json", {"json": {"users": [1]}}, (400, BAD)),
    ("PUT", "/api/v2/users/update_many.json", {"json": {"users": []}}, (400, BAD)),
    ("PUT", "/api/v2/users/{user}.json", {"json": {"user": {"user_fields": []}}},
     (422, INVALID)),
    ("PUT", "/api/v2/users/{user}.json", {"json": {"user": {"tags": "vip"}}}, (422, INVALID)),
    ("POST", "/api/v2/user_fields.json", {"json": {"user_field": "x"}}, (422, INVALID)),
    ("POST", "/api/v2/user_fields.json", {"json": {"user_field": {
        "key": "k", "title": "K", "type": "dropdown"}}}, (422, INVALID)),
    ("GET", "/api/v2/user_fields.json", {"params": {"page[size]": 2, "page[after]": "zz"}},
     (400, BAD)),
    ("GET", "/api/v2/search.json", {}, (400, BAD)),
    ("GET", "/api/v2/search.json", {"params": {"query": "tags:vip"}}, (400, BAD)),
    ("GET", "/api/v2/search.json", {"params": {"query": "type:ticket status:lost"}},
     (400, BAD)),
    ("GET", "/api/v2/search.json", {"params": {"query": "type:user created>yesterday"}},
     (400, BAD)),
    ("GET", "/api/v2/job_statuses/nope.json", {}, (404, "RecordNotFound")),
    ("GET", "/api/v2/job_statuses/show_many.json", {}, (400, BAD)),
    ("GET", "/api/v2/job_statuses/show_many.json", {"params": {"ids": " , "}}, (400, BAD)),
])
def test_bad_requests_are_4xx_never_500(zd_sandbox: ZendeskSandbox, zd_state: ZendeskState,
                                        method: str, path: str, kwargs: dict[str, Any],
                                        expected: tuple[int, str]) -> None:
    """Each malformed request gets the specific refusal meant for it, never a 500."""
    open_id = next(t.id for t in zd_state.tickets.values() if t.status == "open")
    user = sorted(zd_state.users)[-1]
    answer = zd_http(zd_sandbox, method, path.format(open=open_id, user=user), **kwargs)
    assert (answer.status_code, answer.json()["error"]) == expected, answer.text
    assert zd_state.ticket(str(open_id))["tags"] == zd_state.tickets[open_id].tags


def test_job_statuses_expire_after_100_newer_ones(zd_sandbox: ZendeskSandbox) -> None:
    uid = sorted(zd_sandbox.state.users)[0]
    body = {"users": [{"id": uid, "tags": ["x"]}]}
    first = zd_http(zd_sandbox, "PUT", "/api/v2/users/update_many.json", json=body).json()
    for _ in range(100):
        zd_http(zd_sandbox, "PUT", "/api/v2/users/update_many.json", json=body)
    gone = zd_http(zd_sandbox, "GET", f"/api/v2/job_statuses/{first['job_status']['id']}.json")
    assert gone.status_code == 404
    kept = zd_http(zd_sandbox, "GET", "/api/v2/job_statuses/show_many.json",
                   params={"ids": first["job_status"]["id"]})
    assert (kept.status_code, kept.json()) == (200, {"job_statuses": []})


def test_serve_runs_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    runner = threading.Thread(target=serve, args=(0, 5, 1), kwargs={"stop": stop})
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while "listening on" not in (out := capsys.readouterr().out) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        url = re.search(r"listening on (\S+)", out)
        assert url is not None
        me = requests.get(url.group(1) + "/api/v2/users/me.json", timeout=5,
                          auth=("agent@sandbox.example/token", "sandbox-token"))
        assert me.status_code == 200
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()
