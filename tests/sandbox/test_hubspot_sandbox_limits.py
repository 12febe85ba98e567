"""Auth, scopes, rate limits, injected failures, counters and bad requests on the sandbox."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hubspot.crm.pipelines.exceptions import ApiException as PipelinesApiException
from hubspot.crm.tickets.exceptions import ApiException as TicketsApiException
from sandbox_support import TOKEN, make_client

from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState, serve

PIPELINES = "/crm/v3/pipelines/tickets"
SEARCH = "/crm/v3/objects/tickets/search"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_bad_token_is_401(sandbox: HubSpotSandbox) -> None:
    """A wrong token raises the client's 401 with HubSpot's INVALID_AUTHENTICATION body;
    a missing header is refused the same way."""
    with pytest.raises(PipelinesApiException) as info:
        make_client(sandbox, "wrong").crm.pipelines.pipelines_api.get_all(object_type="tickets")
    assert info.value.status == 401
    assert '"category":"INVALID_AUTHENTICATION"' in info.value.body
    raw = requests.get(sandbox.url + PIPELINES, timeout=5)
    assert (raw.status_code, raw.json()["status"]) == (401, "error")
    assert raw.json()["message"].startswith("Authentication credentials not found")


def test_missing_scope_is_403() -> None:
    """A token without crm.objects.contacts.write cannot batch-update contacts."""
    with HubSpotSandbox(HubSpotState(), scopes=["tickets", "crm.objects.contacts.read"]) as sb:
        raw = requests.post(
            sb.url + "/crm/v3/objects/contacts/batch/update",
            headers=AUTH,
            json={"inputs": []},
            timeout=5,
        )
    assert (raw.status_code, raw.json()["category"]) == (403, "MISSING_SCOPES")
    assert (raw.json()["errors"][0]["context"]["requiredGranularScopes"]) == [
        "crm.objects.contacts.write"
    ]


def test_ten_second_limit_429_body_and_headers() -> None:
    """Past the per-10-second budget: 429 TEN_SECONDLY_ROLLING with HubSpot's headers; the
    normal answers before it count Remaining down."""
    with HubSpotSandbox(HubSpotState(), rate_limit_per_10s=3) as sb:
        client = make_client(sb)
        seen = [client.api_request({"method": "GET", "path": PIPELINES}) for _ in range(3)]
        assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
        assert {"3"} == {r.headers["X-HubSpot-RateLimit-Max"] for r in seen}
        assert {"10000"} == {r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] for r in seen}
        assert "X-HubSpot-RateLimit-Daily-Remaining" in seen[0].headers
        with pytest.raises(PipelinesApiException) as info:
            client.crm.pipelines.pipelines_api.get_all(object_type="tickets")
        assert info.value.status == 429
        assert (
            info.value.headers["X-HubSpot-RateLimit-Interval-Milliseconds"],
            info.value.headers["X-HubSpot-RateLimit-Max"],
            info.value.headers["X-HubSpot-RateLimit-Remaining"],
        ) == ("10000", "3", "0")
        body = requests.get(sb.url + PIPELINES, headers=AUTH, timeout=5).json()
        assert {"status", "message", "errorType", "correlationId", "policyName"} == set(body)
        assert (body["message"], body["errorType"], body["policyName"]) == (
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMIT",
            "TEN_SECONDLY_ROLLING",
        )
        assert sb.throttled["GET /crm/v3/pipelines/tickets"] == 2
        assert sb.calls["GET /crm/v3/pipelines/tickets"] == 5


def test_search_secondly_limit_is_separate() -> None:
    """Search allows N requests a second (SECONDLY policy) and does not use the 10-second
    budget; its answers carry no X-HubSpot-RateLimit headers."""
    with HubSpotSandbox(HubSpotState(), rate_limit_per_10s=1, search_per_second=2) as sb:
        answers = [
            requests.post(sb.url + SEARCH, headers=AUTH, json={}, timeout=5) for _ in range(3)
        ]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert (answers[2].json()["policyName"], answers[2].json()["message"]) == (
            "SECONDLY",
            "You have reached your secondly limit.",
        )
        assert not [
            h for r in answers for h in r.headers if h.lower().startswith("x-hubspot-ratelimit")
        ]
        assert requests.get(sb.url + PIPELINES, headers=AUTH, timeout=5).status_code == 200


def test_call_counters_in_process_and_over_http(sandbox: HubSpotSandbox, client: Any) -> None:
    """Every call is counted per METHOD + path template (admin calls are not); the same
    numbers are served at /_sandbox/calls, and reset_calls empties them."""
    client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="email")
    client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="email")
    requests.get(sandbox.url + PIPELINES, timeout=5)  # refused (no token) but counted
    requests.get(sandbox.url + "/_sandbox/contacts/1", timeout=5)
    expected = {"GET /crm/v3/properties/contacts/{name}": 2, "GET /crm/v3/pipelines/tickets": 1}
    assert expected == dict(sandbox.calls)
    assert sandbox.total_calls() == 3
    over_http = requests.get(sandbox.url + "/_sandbox/calls", timeout=5).json()
    assert {"total": 3, "calls": expected, "throttled": {}} == over_http
    sandbox.reset_calls()
    assert sandbox.total_calls() == 0


def test_fail_next_injects_statuses(sandbox: HubSpotSandbox, client: Any) -> None:
    """fail_next(n, status, path_prefix, retry_after) fails exactly the next n matching calls
    with a HubSpot error body (and Retry-After when asked), then normal service resumes."""
    sandbox.fail_next(2, 503, path_prefix=SEARCH, retry_after=1)
    assert client.api_request({"method": "GET", "path": PIPELINES}).status_code == 200
    for _ in range(2):
        with pytest.raises(TicketsApiException) as info:
            client.crm.tickets.search_api.do_search(public_object_search_request={})
        assert (info.value.status, info.value.headers["Retry-After"]) == (503, "1")
        assert '"status":"error"' in info.value.body
    assert client.crm.tickets.search_api.do_search(public_object_search_request={}).total == 50
    sandbox.fail_next(1, 429)
    raw = client.api_request({"method": "GET", "path": PIPELINES})
    assert (raw.status_code, raw.json()["policyName"]) == (429, "TEN_SECONDLY_ROLLING")
    assert sandbox.throttled["GET /crm/v3/pipelines/tickets"] == 1


@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("POST", SEARCH, b"{not json", 400),
        ("POST", "/crm/v3/objects/contacts/batch/update", b"[1, 2", 400),
        ("GET", "/crm/v3/objects/widgets", b"", 404),
        ("DELETE", PIPELINES, b"", 405),
    ],
)
def test_bad_requests_get_json_errors(
    sandbox: HubSpotSandbox, method: str, path: str, data: bytes, status: int
) -> None:
    """Malformed JSON, unknown routes and wrong methods get JSON error bodies, never a 500."""
    raw = requests.request(method, sandbox.url + path, data=data, headers=AUTH, timeout=5)
    assert status == raw.status_code
    assert {"status", "message", "correlationId", "category"} <= set(raw.json())


BAD_BODIES: list[Any] = [
    [],
    "x",
    5,
    None,
    {"inputs": "x"},
    {"inputs": [1]},
    {"inputs": [{"id": None}]},
    {"inputs": [{"id": "1", "properties": "x"}]},
    {"filterGroups": "x"},
    {"filterGroups": [{"filters": [{"propertyName": "closed_date", "operator": "GT"}]}]},
    {
        "filterGroups": [
            {"filters": [{"propertyName": "closed_date", "operator": "IN", "values": "x"}]}
        ]
    },
    {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]},
    {
        "filterGroups": [
            {"filters": [{"propertyName": "closed_date", "operator": "GTE", "value": "not a date"}]}
        ]
    },
    {"sorts": [{"propertyName": "subject", "direction": "SIDEWAYS"}]},
    {"sorts": [1]},
    {"sorts": ["subject", "createdate"]},
    {"limit": 201},
    {"limit": "ten"},
    {"after": "-1"},
    {"filterGroups": [{"filters": []}] * 6},
    {"name": 5},
    {"tokenKey": 5},
    {"name": "g", "label": "G", "displayOrder": "first"},
    {
        "name": "p",
        "label": "P",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": 1}],
    },
]
POST_PATHS = [
    SEARCH,
    "/crm/v4/associations/tickets/contacts/batch/read",
    "/crm/v3/objects/contacts/batch/read",
    "/crm/v3/objects/contacts/batch/update",
    "/crm/v3/properties/contacts",
    "/crm/v3/properties/contacts/groups",
    "/oauth/v2/private-apps/get/access-token-info",
    "/_sandbox/tickets",
]


@pytest.mark.parametrize("path", POST_PATHS)
def test_malformed_bodies_are_4xx_never_500(sandbox: HubSpotSandbox, path: str) -> None:
    """Every POST endpoint answers wrong shapes with a 4xx error body, not a crash."""
    statuses = set()
    for body in BAD_BODIES:
        raw = requests.post(sandbox.url + path, json=body, headers=AUTH, timeout=5)
        if raw.status_code >= 300:
            assert raw.json()["status"] == "error"
        statuses.add(raw.status_code)
    assert all(s < 500 for s in statuses), statuses
    assert 400 in statuses


def test_search_paging_past_ten_thousand_is_400() -> None:
    """With >10,000 matches: after=9800/limit=200 works and offers after=10000; asking for
    results beyond 10,000 is a 400 VALIDATION_ERROR, as HubSpot does."""
    now = datetime(2026, 11, 20, tzinfo=UTC)
    state = HubSpotState.seeded(tickets=10_200, contacts=100, seed=2, now=now)
    with HubSpotSandbox(state) as sb:
        search = make_client(sb).crm.tickets.search_api.do_search
        page = search(public_object_search_request={"limit": 200, "after": "9800"})
        assert (page.total, len(page.results), page.paging.next.after) == (10_200, 200, "10000")
        with pytest.raises(TicketsApiException) as info:
            search(public_object_search_request={"limit": 200, "after": "10000"})
        assert info.value.status == 400
        assert '"category":"VALIDATION_ERROR"' in info.value.body
        with pytest.raises(TicketsApiException):
            search(public_object_search_request={"limit": 10, "after": "9995"})


def test_serve_prints_url_and_token_and_answers(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI entry point seeds a portal, prints where it listens and with which token,
    serves the real API there, and stops when asked."""
    stop = threading.Event()
    runner = threading.Thread(target=serve, args=(0, 20, 1), kwargs={"stop": stop})
    runner.start()
    try:
        deadline = time.monotonic() + 5
        out = ""
        while "access token" not in out and time.monotonic() < deadline:
            time.sleep(0.02)
            out += capsys.readouterr().out
        url = out.split("listening on ", 1)[1].split()[0]
        raw = requests.post(url + SEARCH, headers=AUTH, json={"limit": 1}, timeout=5)
        assert raw.json()["total"] == 20
        assert "access token: sandbox-token" in out
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()
