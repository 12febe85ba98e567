"""The signed inbound endpoints (daemon/web/hooks) over real HTTP and a real SQLite store.

Signatures here are computed independently of the module under test (hmac + base64 per the
vendors' documented algorithms), and the sandboxes sign their own calls again apart (see
tests/e2e/test_notifications_e2e.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from uvicorn_support import served_client

from closedloop.daemon.store import Store
from closedloop.daemon.web.hooks import MAX_BODY, HookSource, hooks_router
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.daemon.web.hooks.signatures import hubspot_uri

HS_SECRET = "hs-client-secret-0123"
ZD_SECRET = "zd-signing-secret-4567"
WALL = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
PUBLIC = "https://feedback.acme.example/cl"



@contextmanager
def serve(store: Store, *, wall: datetime = WALL, limiter: TokenBucket | None = None,
          kicked: list[str] | None = None) -> Iterator[httpx.Client]:
    app = FastAPI()
    sources = {"hubspot": HookSource("hubspot", "hubspot", HS_SECRET),
               "zendesk": HookSource("zendesk", "zendesk", ZD_SECRET)}
    app.include_router(hooks_router(
        store, sources, public_url=PUBLIC, wall=lambda: wall, clock=lambda: wall,
        limiter=limiter, on_notified=(kicked.append if kicked is not None else lambda s: None)))
    with served_client(app) as http:
        yield http


def hubspot_headers(body: bytes, *, uri: str = f"{PUBLIC}/hooks/hubspot",
                    when: datetime = WALL, secret: str = HS_SECRET) -> dict[str, str]:
    stamp = str(int(when.timestamp() * 1000))
    message = b"POST" + uri.encode() + body + stamp.encode()
    sig = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return {"X-HubSpot-Signature-v3": sig.decode(), "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json"}


def zendesk_headers(body: bytes, *, when: datetime = WALL, secret: str = ZD_SECRET,
                    invocation: str = "inv-1") -> dict[str, str]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body,
                                    hashlib.sha256).digest())
    return {"X-Zendesk-Webhook-Signature": sig.decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Id": "01HOOK",
            "X-Zendesk-Webhook-Invocation-Id": invocation, "Content-Type": "application/json"}


def hubspot_batch(*events: tuple[int, int]) -> bytes:
    return json.dumps([{"eventId": eid, "subscriptionId": 7, "portalId": 62515, "appId": 1,
                        "occurredAt": 1, "subscriptionType": "ticket.propertyChange",
                        "attemptNumber": 0, "objectId": tid, "propertyName": "hs_pipeline_stage",
                        "propertyValue": "4", "changeSource": "CRM"}
                       for eid, tid in events]).encode()


def queued(store: Store, source: str) -> list[str]:
    return sorted(store.claim_notified(source, WALL + timedelta(days=1), 1000,
                                       timedelta(seconds=1)).ticket_ids)


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'hooks.db'}")
    store.migrate()
    yield store
    store.dispose()


def test_hubspot_signed_batch_is_queued_and_kicks_the_intake(sqlite_store: Store) -> None:
    """A v3-signed batch queues each ticket once, answers 202 and wakes the intake once."""
    kicked: list[str] = []
    body = hubspot_batch((1, 1001), (2, 1002), (3, 1001))
    with serve(sqlite_store, kicked=kicked) as http:
        answer = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
    assert (answer.status_code, answer.json()) == (202, {"events": 3, "new_events": 3,
                                                         "queued": 2})
    assert kicked == ["hubspot"]
    assert queued(sqlite_store, "hubspot") == ["1001", "1002"]


def test_hubspot_retry_of_the_same_events_queues_nothing(sqlite_store: Store) -> None:
    """HubSpot retries with the same eventIds: the second delivery adds nothing."""
    body = hubspot_batch((10, 2001))
    with serve(sqlite_store) as http:
        first = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
        second = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
    assert (first.json()["new_events"], second.json()) == (
        1, {"events": 1, "new_events": 0, "queued": 0})


def test_hubspot_uri_encodings_are_decoded_as_hubspot_signs() -> None:
    """HubSpot decodes %3A, %2F, %3F, %40, ... before signing the URI; other escapes stay."""
    assert hubspot_uri("https://a.example/h%3Fx%3Dy%2Cz%40w?q=%20") == \
        "https://a.example/h?x%3Dy,z@w?q=%20"


@pytest.mark.parametrize(("case", "reason"), [
    ("missing", "missing_signature"), ("wrong_secret", "bad_signature"),
    ("other_body", "bad_signature"), ("other_uri", "bad_signature"),
])
def test_hubspot_bad_signatures_get_401(sqlite_store: Store, case: str, reason: str) -> None:
    """No signature, another secret, a changed body or another URI: 401, nothing queued."""
    body = hubspot_batch((1, 1001))
    headers = {
        "missing": {"Content-Type": "application/json"},
        "wrong_secret": hubspot_headers(body, secret="not-the-secret"),
        "other_body": hubspot_headers(hubspot_batch((1, 9999))),
        "other_uri": hubspot_headers(body, uri="https://evil.example/hooks/hubspot"),
    }[case]
    with serve(sqlite_store) as http:
        answer = http.post("/hooks/hubspot", content=body, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (401, reason)
    assert queued(sqlite_store, "hubspot") == []


@pytest.mark.parametrize(("age", "status"), [
    (timedelta(minutes=5), 202), (timedelta(minutes=5, seconds=1), 401),
    (-timedelta(minutes=5), 202), (-timedelta(minutes=5, seconds=1), 401),
])
def test_timestamp_window_edges(sqlite_store: Store, age: timedelta, status: int) -> None:
    """A signature dated exactly 5 minutes off passes; a second more is refused (both CRMs,
    both directions)."""
    hs_body = hubspot_batch((1, 1001))
    zd_body = b'{"ticket_id": "7"}'
    with serve(sqlite_store) as http:
        hs = http.post("/hooks/hubspot", content=hs_body,
                       headers=hubspot_headers(hs_body, when=WALL - age))
        zd = http.post("/hooks/zendesk", content=zd_body,
                       headers=zendesk_headers(zd_body, when=WALL - age))
    assert (hs.status_code, zd.status_code) == (status, status)


def test_zendesk_trigger_call_is_queued_once_per_invocation(sqlite_store: Store) -> None:
    """A signed trigger call queues its ticket; the same invocation again queues nothing; a
    new invocation of the same ticket is a new event but the ticket is queued only once."""
    body = b'{"event": "closedloop.ticket_solved", "ticket_id": "42", "status": "solved"}'
    with serve(sqlite_store) as http:
        first = http.post("/hooks/zendesk", content=body, headers=zendesk_headers(body))
        again = http.post("/hooks/zendesk", content=body, headers=zendesk_headers(body))
        other = http.post("/hooks/zendesk", content=body,
                          headers=zendesk_headers(body, invocation="inv-2"))
    assert [first.json(), again.json(), other.json()] == [
        {"events": 1, "new_events": 1, "queued": 1},
        {"events": 1, "new_events": 0, "queued": 0},
        {"events": 1, "new_events": 1, "queued": 0}]
    assert queued(sqlite_store, "zendesk") == ["42"]


def test_zendesk_bad_signature_is_401(sqlite_store: Store) -> None:
    """Signed with another secret: 401 and nothing queued."""
    body = b'{"ticket_id": "42"}'
    with serve(sqlite_store) as http:
        answer = http.post("/hooks/zendesk", content=body,
                           headers=zendesk_headers(body, secret="nope"))
    assert (answer.status_code, answer.json()["error"]) == (401, "bad_signature")
    assert queued(sqlite_store, "zendesk") == []


@pytest.mark.parametrize(("body", "error"), [
    (b"{not json", "malformed_json"), (b'{"ticket_id": "abc"}', "bad_payload"),
    (b"[1, 2]", "bad_payload"),
])
def test_signed_but_malformed_bodies_get_400(sqlite_store: Store, body: bytes,
                                             error: str) -> None:
    """A correctly signed body that is not JSON or not a notification: 400 with a JSON error."""
    with serve(sqlite_store) as http:
        answer = http.post("/hooks/zendesk", content=body, headers=zendesk_headers(body))
    assert (answer.status_code, answer.json()["error"]) == (400, error)


def test_oversized_body_gets_413(sqlite_store: Store) -> None:
    """Over MAX_BODY bytes: 413 before any signature work; exactly MAX_BODY is read."""
    big = b"[" + b" " * (MAX_BODY - 2) + b"]"
    with serve(sqlite_store) as http:
        over = http.post("/hooks/hubspot", content=big + b" ", headers=hubspot_headers(big))
        at_limit = http.post("/hooks/hubspot", content=big, headers=hubspot_headers(big))
    assert (over.status_code, at_limit.status_code) == (413, 202)


def test_unknown_source_gets_404(sqlite_store: Store) -> None:
    """A path that names no notifying source: 404 with a JSON error naming the config key."""
    with serve(sqlite_store) as http:
        answer = http.post("/hooks/salesforce", content=b"[]")
    assert answer.status_code == 404
    assert "sources.salesforce" in answer.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(sqlite_store: Store) -> None:
    """A source over its bucket gets 429 and Retry-After; another source is not affected."""
    ticks: list[float] = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2.0, clock=lambda: ticks[0])
    body = hubspot_batch((1, 1001))
    zd_body = b'{"ticket_id": "5"}'
    with serve(sqlite_store, limiter=bucket) as http:
        codes = [http.post("/hooks/hubspot", content=body,
                           headers=hubspot_headers(body)).status_code for _ in range(3)]
        limited = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
        other = http.post("/hooks/zendesk", content=zd_body, headers=zendesk_headers(zd_body))
        ticks[0] = 1.0  # a second later one token is back
        later = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
    assert codes == [202, 202, 429]
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert (other.status_code, later.status_code) == (202, 202)


def test_secret_and_body_never_logged(sqlite_store: Store,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A refused request logs its reason, not its body or the secret."""
    body = b'{"ticket_id": "42", "email": "private@example.com"}'
    with serve(sqlite_store) as http:
        http.post("/hooks/zendesk", content=body, headers=zendesk_headers(body, secret="x"))
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "hooks.refused" in logged
    assert ("private@example.com" in logged, ZD_SECRET in logged) == (False, False)

