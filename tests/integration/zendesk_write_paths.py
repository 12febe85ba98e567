"""Run one Zendesk write scenario through zenpy's objects (as the adapter wrote before
_raw_writes.py) or through the plain JSON writer, on a sandbox of its own, and keep what
the sandbox was sent, what the adapter answered and what the account holds afterwards.

Used by test_zendesk_raw_writes.py; the zenpy side builds its objects exactly as the
adapter's code at be3befb did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, User
from zenpy.lib.api_objects import Ticket as ZenpyTicket

from closedloop.integration.base import PropertySpec
from closedloop.integration.errors import ClosedLoopError, PartialWrite, RateLimited
from closedloop.integration.pacing import Pacer, Window
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._pacing import ENDPOINT_LIMITS, read_answer
from closedloop.integration.zendesk._raw_writes import Change, RawWriter

SPECS = [PropertySpec("cl_csat_rating", "Last CSAT rating", type="integer",
                      field_type="integer"),
         PropertySpec("cl_comment", "Last comment", type="text", field_type="text"),
         PropertySpec("cl_segment", "Segment", type="text", field_type="text")]
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _listed(changes: Change | Sequence[Change]) -> list[Change]:
    return [changes] if isinstance(changes, dict) else list(changes)


def _one_or_many(objects: list[Any], changes: Change | Sequence[Change]) -> Any:
    return objects[0] if isinstance(changes, dict) else objects


class ZenpyWrites(RawWriter):
    """The writes as zenpy made them: the same changes built into User / Ticket / Comment
    objects the way the adapter built them, sent and parsed back by zenpy."""

    def __init__(self, zd: Zenpy) -> None:
        self._zd = zd
        self.used = 0  # calls made, so a test can tell this writer ran

    def send(self, *_args: Any, **_kw: Any) -> dict[str, Any]:
        raise AssertionError("the zenpy writer sends through zenpy only")

    def update_users(self, changes: Change | Sequence[Change]) -> Any:
        self.used += 1
        users = [User(id=c["id"], user_fields=c["user_fields"]) for c in _listed(changes)]
        return self._zd.users.update(_one_or_many(users, changes))

    def update_tickets(self, changes: Change | Sequence[Change]) -> Any:
        self.used += 1
        tickets = []
        for change in _listed(changes):
            ticket = ZenpyTicket(id=change["id"])
            if "additional_tags" in change:
                ticket.additional_tags = change["additional_tags"]
            if "comment" in change:
                ticket.comment = Comment(body=change["comment"]["body"],
                                         public=change["comment"]["public"])
            tickets.append(ticket)
        return self._zd.tickets.update(_one_or_many(tickets, changes))

    def create_tickets(self, changes: Sequence[Change]) -> Any:
        self.used += 1
        tickets = []
        for change in changes:
            ticket = ZenpyTicket(subject=change.get("subject"),
                                 requester_id=change["requester_id"],
                                 external_id=change.get("external_id"),
                                 tags=change.get("tags"), assignee_id=change.get("assignee_id"),
                                 group_id=change.get("group_id"))
            if "via_followup_source_id" in change:
                ticket.via_followup_source_id = change["via_followup_source_id"]
            ticket.comment = Comment(body=change["comment"]["body"],
                                     public=change["comment"]["public"])
            tickets.append(ticket)
        return self._zd.tickets.create(tickets)


def sent_request(request: requests.PreparedRequest) -> tuple[str, str, Any]:
    """(method, path, JSON body) of one request; GETs keep their query (ids), job ids left
    out (they are random per run)."""
    parts = urlsplit(request.url or "")
    body: Any = None
    if request.body:
        raw = request.body.decode() if isinstance(request.body, bytes) else request.body
        body = json.loads(raw)
    query = "" if "job_statuses" in parts.path else parts.query
    return str(request.method), parts.path + (f"?{query}" if query else ""), body


def error_facts(exc: ClosedLoopError) -> tuple[Any, ...]:
    """What the caller sees of an error: its type, text, and a PartialWrite's parts."""
    if isinstance(exc, PartialWrite):
        return ("PartialWrite", str(exc), exc.written, exc.rejected, exc.pending,
                exc.retry_after)
    wait = exc.retry_after if isinstance(exc, RateLimited) else None
    return (type(exc).__name__, str(exc), wait)


def account(state: ZendeskState) -> dict[str, Any]:
    """What a write can change: every user's fields, every ticket's tags, people, link,
    status and comments (bodies, public)."""
    with state.lock:
        users = {uid: dict(u.user_fields) for uid, u in state.users.items()}
        tickets = {tid: (t.subject, t.requester_id, t.assignee_id, t.group_id, list(t.tags),
                         t.external_id, t.followup_source_id, t.status,
                         [(c["body"], c["public"]) for c in t.comments])
                   for tid, t in state.tickets.items()}
    return {"users": users, "tickets": tickets}


@dataclass
class Run:
    """One scenario's outcome on one path."""

    out: Any
    sent: list[tuple[str, str, Any]]
    account: dict[str, Any]
    calls: dict[str, int]
    limited: dict[str, int]
    waits: list[float]
    paced: tuple[int, int, float, int]
    ids: Any = field(default=None, compare=False)


class FakeClock:
    """The pacer's clock, moved only by its own sleeps (no real waiting in tests)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def paced(clock: FakeClock) -> Pacer:
    """The adapter's pacer (as _pacing.zendesk_pacer builds it) on a fake clock."""
    windows = [Window("account", 200, 60.0, 0.9)]
    windows += [Window(name, limit, 60.0, 0.9) for name, limit in ENDPOINT_LIMITS.items()]
    return Pacer("zendesk", windows, {name: ("account", name) for name in ENDPOINT_LIMITS},
                 read_answer, default_windows=("account",), max_wait=60.0, clock=clock,
                 sleep=clock.sleep)


def run(path: str, seed: Callable[[ZendeskState], Any],
        act: Callable[[ZendeskAdapter, ZendeskSandbox, Any], Any], *,
        single_max: int = 2) -> Run:
    """`seed` a fresh account, then `act` on it through `path` ("zenpy" or "json")."""
    state = ZendeskState()
    ids = seed(state)
    waits: list[float] = []
    clock = FakeClock()
    with ZendeskSandbox(state, rate_limit_per_minute=1_000_000,
                        incremental_per_minute=1_000_000,
                        search_export_per_minute=1_000_000, port=0) as sandbox, \
            ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                           token=sandbox.token, base_url=sandbox.url,
                           start_at=NOW - timedelta(days=1), page_size=10,
                           retry=RetryPolicy(max_attempts=4, max_delay=60.0, base=0.01,
                                             cap=0.05, sleep=waits.append),
                           sleep=waits.append, timeout=(2, 5), job_poll_interval=0.5,
                           job_timeout=5.0, pacer=paced(clock),
                           single_max=single_max) as adapter:
        adapter.ensure_properties("g", "G", SPECS)
        if path == "zenpy":
            adapter._writes = ZenpyWrites(adapter._zd)
        sent: list[tuple[str, str, Any]] = []
        adapter._session.hooks["response"].append(
            lambda response, *_a, **_k: sent.append(sent_request(response.request)))
        before = adapter.calls_by_endpoint()
        stats = adapter.pacing_stats()
        assert stats is not None
        start = (stats.requests, stats.waits, stats.waited_seconds, stats.rate_limited)
        try:
            out = act(adapter, sandbox, ids)
        except ClosedLoopError as exc:
            out = error_facts(exc)
        calls = {k: v - before.get(k, 0) for k, v in adapter.calls_by_endpoint().items()
                 if v - before.get(k, 0)}
        now = (stats.requests - start[0], stats.waits - start[1],
               round(stats.waited_seconds - start[2], 3), stats.rate_limited - start[3])
        return Run(out, sent, account(state), calls, adapter.rate_limited_by_endpoint(),
                   waits, now, ids)


def both(seed: Callable[[ZendeskState], Any],
         act: Callable[[ZendeskAdapter, ZendeskSandbox, Any], Any], **kw: Any) -> Run:
    """The scenario on both paths; they must agree in everything: what was sent, the
    answer, the account after, the calls and 429s counted, the waits, the pacing."""
    before, now = run("zenpy", seed, act, **kw), run("json", seed, act, **kw)
    assert now == before
    return now
