"""The CRM side of the steady-state benchmark, in a child process (its CPU is not the daemon's).

A sandbox CRM (HubSpot or Zendesk, at the account's default rate limits) and an SMTP sink.
The parent drives it over a pipe, one message per simulated tick: tickets that close (new or
repeat customers), reopen or are solved again at given simulated instants; the answer carries
the new tickets' ids and the score links of the mails received since the last tick (the parent
answers some of them over HTTP, as a customer would). After applying a tick the child waits
until the sandbox has sent every change notification it queued, so the jobs of that tick see
them, and empties the sandbox's rate-limit windows: a simulated tick stands for 30 s of the
CRM's windows, which real time compresses (see bench/steady.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

TOKEN = "bench-token"
RATE = {"hubspot": 190, "zendesk": 700}  # per 10 s (Professional) / per minute (Enterprise)
QUEUES = {"hubspot": ("0", "5"), "zendesk": ("1", "2")}  # (surveyed, not surveyed)
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/)\d+")


def serve(crm: str, pipe: Connection) -> None:
    """Child process main: serve until the parent sends ("stop",)."""
    from closedloop.daemon.logging import configure

    configure("console", level=40)  # stdout carries the parent's figures (--json)
    from closedloop.daemon.delivery.sink import LocalMailSink
    from closedloop.integration.sandbox.hubspot import HubSpotState
    from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide
    from closedloop.integration.sandbox.zendesk import ZendeskState

    side: Any
    if crm == "hubspot":
        side = HubSpotSide(HubSpotState(), token=TOKEN, rate_limit_per_10s=RATE[crm])
    else:
        side = ZendeskSide(ZendeskState(), token=TOKEN, rate_limit_per_minute=RATE[crm])
    contacts: dict[str, str] = {}  # customer key -> contact / user id
    refused = {"avoidable": 0, "unavoidable": 0}  # 429s summed over the ticks' windows
    with side, LocalMailSink(port=0) as sink:
        source = side.source(datetime.now().astimezone())
        extra = {"job_poll_interval": "20ms", "job_timeout": "30s"} if crm == "zendesk" else {}
        pipe.send((side.sandbox.url, sink.port, {**source, **extra}))
        while True:
            command, *args = pipe.recv()
            if command == "stop":
                pipe.send("bye")
                return
            if command == "tick":
                pipe.send(_tick(side, crm, contacts, sink, refused, *args))
            elif command == "subscribe":
                pipe.send(_subscribe(side, crm, *args))
            elif command == "calls":
                now = _refusals(side)
                pipe.send({**side.sandbox._counters(),
                           "refused": {k: v + now[k] for k, v in refused.items()}})
            elif command == "reset_calls":
                side.reset_calls()
                side.sandbox.reset_limits()
                refused.update(avoidable=0, unavoidable=0)
                pipe.send(None)


def _tick(side: Any, crm: str, contacts: dict[str, str], sink: Any, refused: dict[str, int],
          events: list[tuple[Any, ...]]) -> tuple[dict[int, str], list[tuple[str, str]]]:
    """Apply one tick's CRM events; (bench ticket key -> ticket id, new mails' link stems)."""
    made: dict[int, str] = {}
    surveyed, other = QUEUES[crm]
    for event in events:
        kind = event[0]
        if kind == "close":
            _, key, customer, email, language, in_program, at = event
            contact = contacts.get(customer)
            if contact is None:
                contact = contacts[customer] = side.create_contact(email, f"C{customer}",
                                                                   language)
            made[key] = side.close_new_ticket(contact, surveyed if in_program else other, at)
        elif kind == "reopen":
            side.state.reopen_ticket(event[1], at=event[2])
        elif kind == "solve":
            if crm == "hubspot":
                side.state.close_ticket(event[1], at=event[2])
            else:
                side.state.solve_ticket(event[1], at=event[2])
    notifier = side.sandbox.webhooks.notifier if crm == "hubspot" \
        else side.state.automation.notifier
    notifier.flush(30)
    for kind, n in _refusals(side).items():
        refused[kind] += n
    side.sandbox.reset_limits()
    links: list[tuple[str, str]] = []
    for received in sink.drain():
        body = received.message.get_body(("plain",))
        found = LINK.search(body.get_content()) if body is not None else None
        if found:
            links.append((str(received.message["To"]), found.group(1)))
    return made, links


def _subscribe(side: Any, crm: str, target: str, secret: str | None,
               webhook_id: str | None) -> str:
    """HubSpot: point the app's subscription at `target`. Zendesk: the signing secret of the
    webhook the daemon's setup made (webhook_id)."""
    if crm == "hubspot":
        side.sandbox.webhooks.subscribe(target, secret)
        return str(secret)
    return str(side.state.automation.secrets[webhook_id])


def _refusals(side: Any) -> dict[str, int]:
    """429s per kind summed over the sandbox's windows (avoidable: our own fault)."""
    totals = {"avoidable": 0, "unavoidable": 0}
    for window in side.sandbox.limits_snapshot().values():
        for kind in totals:
            totals[kind] += int(window.get(kind, 0))
    return totals


def closing(at: datetime, spread: timedelta, share: float) -> datetime:
    """An instant `share` (0..1) of the way back through `spread` before `at`: never after it."""
    return at - spread * share
