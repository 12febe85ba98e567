"""Survey triggers over real HTTP: POST /hooks/hubspot, /hooks/zendesk, /hooks/generic.

A real uvicorn server runs the hooks router (as tests/web/test_hooks_endpoints.py does);
the sandbox CRMs answer the contact reads; the store is real (SQLite and PostgreSQL).
Signatures are computed apart from the code under test: hmac + base64 per the vendors'
documents for HubSpot and Zendesk, the `standardwebhooks` library for the generic route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook
from trigger_support import NOW
from uvicorn_support import served_client

from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.triggers import Queued, Trigger, queue_trigger
from closedloop.daemon.web.hooks import HookSource, hooks_router
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.integration.base import CRMAdapter
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter

HS_SECRET = "hs-app-client-secret"
ZD_SECRET = "zd-webhook-signing-secret"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PUBLIC = "https://feedback.acme.example"
PROGRAMS = [
    Program("onboarding", SurveyType.CES, "hubspot", timedelta(0), "Acme", trigger="event"),
    Program("delivery", SurveyType.CSAT, "zendesk", timedelta(0), "Acme", trigger="event"),
]



@contextmanager
def serve(store: Store, adapters: dict[str, CRMAdapter], *,
          limiter: TokenBucket | None = None,
          sources: dict[str, HookSource] | None = None) -> Iterator[httpx.Client]:
    def intake(trigger: Trigger, source: str | None) -> Queued:
        return queue_trigger(store, adapters, PROGRAMS, trigger, NOW, source=source)

    routes = sources or {
        "hubspot": HookSource("hubspot", "hubspot", HS_SECRET, triggers=True),
        "zendesk": HookSource("zendesk", "zendesk", ZD_SECRET, triggers=True),
        "generic": HookSource("generic", "standard", WHSEC, notifications=False,
                              triggers=True)}
    app = FastAPI()
    app.include_router(hooks_router(store, routes, public_url=PUBLIC, wall=lambda: NOW,
                                    clock=lambda: NOW, limiter=limiter, triggers=intake))
    with served_client(app) as http:
        yield http


def hubspot_headers(body: bytes, *, path: str = "/hooks/hubspot",
                    age: timedelta = timedelta(0), secret: str = HS_SECRET) -> dict[str, str]:
    stamp = str(int((NOW - age).timestamp() * 1000))
    message = b"POST" + f"{PUBLIC}{path}".encode() + body + stamp.encode()
    sig = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return {"X-HubSpot-Signature-v3": sig.decode(), "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json"}


def zendesk_headers(body: bytes, *, age: timedelta = timedelta(0), invocation: str = "0001",
                    secret: str = ZD_SECRET) -> dict[str, str]:
    stamp = (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body,
                                    hashlib.sha256).digest())
    return {"X-Zendesk-Webhook-Signature": sig.decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Id": "01HOOK",
            "X-Zendesk-Webhook-Invocation-Id": invocation, "Content-Type": "application/json"}


def generic_headers(body: bytes, *, msg_id: str = "msg_1", age: timedelta = timedelta(0),
                    secret: str = WHSEC) -> dict[str, str]:
    when = NOW - age
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, when, body),
            "Content-Type": "application/json"}


def dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture
def adapters(hubspot: HubSpotAdapter, zendesk: ZendeskAdapter) -> dict[str, CRMAdapter]:
    return {"hubspot": hubspot, "zendesk": zendesk}


@pytest.fixture
def ada(hs_state: HubSpotState) -> str:
    return hs_state.create_contact("ada@example.com", "Ada", "Doe", "en")


def test_hubspot_workflow_webhook_queues_one_survey_and_a_retry_is_a_duplicate(
        store: Store, adapters: dict[str, CRMAdapter], ada: str) -> None:
    """202 with the send's key; HubSpot's retry (same body, new timestamp) answers
    'duplicate' with the same key and send id."""
    body = dumps({"program": "onboarding", "contact_id": ada, "deal_id": "123",
                  "event_id": "deal-123-won"})
    with serve(store, adapters) as http:
        first = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
        retry = http.post("/hooks/hubspot", content=body,
                          headers=hubspot_headers(body, age=timedelta(seconds=30)))
    key = "onboarding:hubspot:hubspot_workflow:deal-123-won"
    row = store.send_by_key(key)
    assert row is not None
    assert (first.status_code, first.json()) == (
        202, {"key": key, "status": "queued", "send_id": row.id})
    assert (retry.status_code, retry.json()) == (
        202, {"key": key, "status": "duplicate", "send_id": row.id})
    assert (row.trigger, row.reference, row.contact_id) == ("hubspot_workflow", "deal:123", ada)


def test_hubspot_default_body_with_program_in_the_url(
        store: Store, adapters: dict[str, CRMAdapter], ada: str) -> None:
    """The workflow's default body (the enrolled record) and ?program= on the signed URL;
    no event id: the body's hash is the event, so the same body again is a duplicate."""
    body = dumps({"objectId": int(ada), "properties": {"email": {"value": "ada@example.com"}}})
    path = "/hooks/hubspot?program=onboarding"
    with serve(store, adapters) as http:
        first = http.post(path, content=body, headers=hubspot_headers(body, path=path))
        again = http.post(path, content=body, headers=hubspot_headers(body, path=path))
    digest = hashlib.sha256(body).hexdigest()[:40]
    assert (first.status_code, first.json()["key"], again.json()["status"]) == (
        202, f"onboarding:hubspot:hubspot_workflow:body-{digest}", "duplicate")


@pytest.mark.parametrize(("age", "status"), [
    (timedelta(minutes=5), 202), (timedelta(minutes=5, milliseconds=1), 401),
    (-timedelta(minutes=5), 202), (-timedelta(minutes=5, milliseconds=1), 401)])
def test_hubspot_five_minute_window_both_edges(
        store: Store, adapters: dict[str, CRMAdapter], ada: str, age: timedelta,
        status: int) -> None:
    """Exactly 5 minutes old (or ahead) is accepted; one millisecond more is refused."""
    body = dumps({"program": "onboarding", "contact_id": ada, "event_id": "e"})
    with serve(store, adapters) as http:
        answer = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body, age=age))
    assert answer.status_code == status
    assert (store.send_by_key("onboarding:hubspot:hubspot_workflow:e") is not None) == (
        status == 202)


@pytest.mark.parametrize("case", ["wrong_secret", "altered_body", "no_signature"])
def test_bad_signatures_are_401_and_queue_nothing(
        store: Store, adapters: dict[str, CRMAdapter], ada: str, case: str) -> None:
    body = dumps({"program": "onboarding", "contact_id": ada, "event_id": "e"})
    headers = hubspot_headers(body, secret="other" if case == "wrong_secret" else HS_SECRET)
    if case == "no_signature":
        del headers["X-HubSpot-Signature-v3"]
    sent = body.replace(b"e\"}", b"f\"}") if case == "altered_body" else body
    with serve(store, adapters) as http:
        answer = http.post("/hooks/hubspot", content=sent, headers=headers)
    reason = "missing_signature" if case == "no_signature" else "bad_signature"
    assert (answer.status_code, answer.json()["error"]) == (401, reason)
    assert store.send_by_key("onboarding:hubspot:hubspot_workflow:e") is None


def test_an_absurd_timestamp_is_401_not_500(store: Store, adapters: dict[str, CRMAdapter]) -> None:
    """Defect fix: a 30-digit timestamp overflowed datetime (a 500); now bad_timestamp."""
    body = dumps({"program": "onboarding", "contact_id": "1"})
    headers = {**hubspot_headers(body), "X-HubSpot-Request-Timestamp": "9" * 30}
    generic = {**generic_headers(body), "webhook-timestamp": "9" * 30}
    with serve(store, adapters) as http:
        hub = http.post("/hooks/hubspot", content=body, headers=headers)
        std = http.post("/hooks/generic", content=body, headers=generic)
    assert [(hub.status_code, hub.json()["error"]), (std.status_code, std.json()["error"])] == [
        (401, "bad_timestamp"), (401, "bad_timestamp")]


def test_unknown_program_and_person_are_422_saying_which(
        store: Store, adapters: dict[str, CRMAdapter], ada: str) -> None:
    """JSON errors a workflow builder can act on; HubSpot does not retry a 4xx."""
    bad_program = dumps({"program": "nps", "contact_id": ada})
    bad_person = dumps({"program": "onboarding", "contact_id": "4040"})
    no_program = dumps({"contact_id": ada, "email": "ada@example.com", "program": ""})
    with serve(store, adapters) as http:
        answers = [http.post("/hooks/hubspot", content=b, headers=hubspot_headers(b)).json()
                   for b in (bad_program, bad_person, no_program)]
    assert answers == [
        {"error": "unknown_program",
         "detail": "no program 'nps' reads source 'hubspot'; expected one of: onboarding"},
        {"error": "unknown_person", "detail": "source 'hubspot' has no contact '4040'"},
        {"error": "bad_trigger", "detail": "the body names no program: add \"program\": "
         "\"<name>\" to it, or ?program=<name> to the URL"}]


def test_zendesk_trigger_webhook_keys_on_the_invocation(
        store: Store, adapters: dict[str, CRMAdapter], zd_state: ZendeskState) -> None:
    """Zendesk resends the same invocation id: one row; a new invocation is a new event."""
    uid = zd_state.create_user("lin@example.com", "Lin Chen")
    body = dumps({"program": "delivery", "contact_id": uid, "ticket_id": "77"})
    with serve(store, adapters) as http:
        one = http.post("/hooks/zendesk", content=body, headers=zendesk_headers(body))
        again = http.post("/hooks/zendesk", content=body, headers=zendesk_headers(body))
        other = http.post("/hooks/zendesk", content=body,
                          headers=zendesk_headers(body, invocation="0002"))
    assert [one.json()["key"], again.json()["status"], other.json()["key"]] == [
        "delivery:zendesk:zendesk_trigger:01HOOK:0001", "duplicate",
        "delivery:zendesk:zendesk_trigger:01HOOK:0002"]


@pytest.mark.parametrize(("age", "status"), [
    (timedelta(minutes=5), 202), (timedelta(minutes=5, seconds=1), 401),
    (-timedelta(minutes=5), 202), (-timedelta(minutes=5, seconds=1), 401)])
def test_zendesk_five_minute_window_both_edges(
        store: Store, adapters: dict[str, CRMAdapter], zd_state: ZendeskState,
        age: timedelta, status: int) -> None:
    uid = zd_state.create_user("lin@example.com", "Lin Chen")
    body = dumps({"program": "delivery", "contact_id": uid})
    with serve(store, adapters) as http:
        answer = http.post("/hooks/zendesk", content=body,
                           headers=zendesk_headers(body, age=age))
    assert answer.status_code == status


def test_generic_standard_webhook_with_rotated_secrets_and_replay(
        store: Store, adapters: dict[str, CRMAdapter], ada: str) -> None:
    """Several signatures (an old secret's, a v2 entry, ours): one match is enough; the
    same webhook-id again is a duplicate; only wrong signatures → 401."""
    body = dumps({"program": "onboarding", "email": "ada@example.com", "order_id": "A-17"})
    headers = generic_headers(body)
    stale = Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).sign("msg_1", NOW, body)
    headers["webhook-signature"] = f"{stale} v2,abc {headers['webhook-signature']}"
    only_wrong = {**headers, "webhook-signature": stale}
    with serve(store, adapters) as http:
        first = http.post("/hooks/generic", content=body, headers=headers)
        replay = http.post("/hooks/generic", content=body, headers=headers)
        refused = http.post("/hooks/generic", content=body, headers=only_wrong)
    key = "onboarding:hubspot:generic:msg_1"
    row = store.send_by_key(key)
    assert (first.status_code, first.json()["key"], replay.json()["status"]) == (
        202, key, "duplicate")
    assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")
    assert (row and row.reference, row and row.contact_id) == ("order:A-17", ada)


@pytest.mark.parametrize(("age", "status"), [
    (timedelta(minutes=5), 202), (timedelta(minutes=5, seconds=1), 401),
    (-timedelta(minutes=5), 202), (-timedelta(minutes=5, seconds=1), 401)])
def test_generic_five_minute_window_both_edges(
        store: Store, adapters: dict[str, CRMAdapter], ada: str, age: timedelta,
        status: int) -> None:
    body = dumps({"program": "onboarding", "contact_id": ada})
    with serve(store, adapters) as http:
        answer = http.post("/hooks/generic", content=body, headers=generic_headers(body, age=age))
    assert answer.status_code == status


def test_rate_limit_per_source_answers_429_with_retry_after(
        store: Store, adapters: dict[str, CRMAdapter], ada: str) -> None:
    """A flood on one route is held back; another route's bucket is its own."""
    ticks = [0.0]
    bucket = TokenBucket(rate=0.5, burst=1.0, clock=lambda: ticks[0])
    body = dumps({"program": "onboarding", "contact_id": ada})
    with serve(store, adapters, limiter=bucket) as http:
        first = http.post("/hooks/generic", content=body, headers=generic_headers(body))
        second = http.post("/hooks/generic", content=body,
                           headers=generic_headers(body, msg_id="msg_2"))
        other = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
    assert [first.status_code, second.status_code, other.status_code] == [202, 429, 202]
    assert (second.headers["Retry-After"], second.json()["error"]) == ("2", "rate_limited")


def test_routes_take_only_what_their_source_enables(
        store: Store, adapters: dict[str, CRMAdapter], ada: str) -> None:
    """A notifications-only source refuses a trigger; a triggers-only one a notification."""
    sources = {"hubspot": HookSource("hubspot", "hubspot", HS_SECRET),
               "zendesk": HookSource("zendesk", "zendesk", ZD_SECRET, notifications=False,
                                     triggers=True)}
    trigger = dumps({"program": "onboarding", "contact_id": ada})
    notification = dumps({"ticket_id": "5"})
    with serve(store, adapters, sources=sources) as http:
        off = http.post("/hooks/hubspot", content=trigger, headers=hubspot_headers(trigger))
        only = http.post("/hooks/zendesk", content=notification,
                         headers=zendesk_headers(notification))
    assert [(off.status_code, off.json()["error"]), (only.status_code, only.json()["error"])] \
        == [(400, "triggers_off"), (400, "not_a_trigger")]


def test_a_crm_that_cannot_be_read_is_503_with_retry_after(
        store: Store, adapters: dict[str, CRMAdapter], ada: str,
        hs_sandbox: HubSpotSandbox) -> None:
    """The sender retries later (5xx); nothing was queued."""
    hs_sandbox.fail_next(5, 503)
    body = dumps({"program": "onboarding", "contact_id": ada, "event_id": "e503"})
    with serve(store, adapters) as http:
        answer = http.post("/hooks/hubspot", content=body, headers=hubspot_headers(body))
    assert (answer.status_code, answer.json()["error"], answer.headers["Retry-After"]) == (
        503, "crm_unavailable", "60")
    assert store.send_by_key("onboarding:hubspot:hubspot_workflow:e503") is None
