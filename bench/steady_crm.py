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

import cProfile
import re
import sys
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from multiprocessing.connection import Connection
from typing import Any

TOKEN = "bench-token"
RATE = {"hubspot": 190, "zendesk": 700}  # per 10 s (Professional) / per minute (Enterprise)
QUEUES = {"hubspot": ("0", "5"), "zendesk": ("1", "2")}  # (surveyed, not surveyed)
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/)\d+")
RAW_LINK = re.compile(rb"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/)\d")


def serve(crm: str, pipe: Connection, profile: str | None = None) -> None:
    """Child process main: serve until the parent sends ("stop",); `profile`: cProfile the
    tick handling (this thread) into that file."""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            _serve(crm, pipe)
        finally:
            profiler.disable()
            profiler.dump_stats(profile)
        return
    _serve(crm, pipe)


def _serve(crm: str, pipe: Connection) -> None:
    from closedloop.daemon.logging import configure

    configure("console", level=40)  # stdout carries the parent's figures (--json)
    from aiosmtpd.controller import Controller

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
    if crm == "hubspot":
        notifier = side.sandbox.webhooks.notifier
    else:
        notifier = side.state.automation.notifier
    # A burst of one tick goes out in full batches, several requests at once (see flush).
    notifier.hold, notifier.workers = True, 4
    sink = LinkSink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    with side:
        source = side.source(datetime.now().astimezone())
        extra = {"job_poll_interval": "20ms", "job_timeout": "30s"} if crm == "zendesk" else {}
        pipe.send((side.sandbox.url, smtp.port, {**source, **extra}))
        while True:
            command, *args = pipe.recv()
            if command == "stop":
                smtp.stop()
                if sink.parsed:
                    print(f"  ({sink.parsed} mails decoded to find their link)", file=sys.stderr)
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
    return made, sink.links()


class LinkSink:
    """aiosmtpd handler that accepts every mail at once and keeps its raw bytes; `links`
    finds each survey link later, off the SMTP conversation (the tests' LocalMailSink parses
    every message before its 250, which a real relay does not make the sender wait for)."""

    def __init__(self) -> None:
        self._raw: list[tuple[str, bytes]] = []
        self.parsed = 0  # mails whose link was not in the raw bytes as is (decoded instead)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._raw.append((",".join(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def links(self) -> list[tuple[str, str]]:
        """(recipient, score-link stem) of each mail received since the last call."""
        taken, self._raw = self._raw, []
        found: list[tuple[str, str]] = []
        for to, raw in taken:
            match = RAW_LINK.search(raw)
            if match:
                found.append((to, match.group(1).decode()))
                continue
            self.parsed += 1
            message = message_from_bytes(raw, policy=default_policy)
            body = message.get_body(("plain",))  # type: ignore[attr-defined]
            text = LINK.search(body.get_content()) if body is not None else None
            if text:
                found.append((to, text.group(1)))
        return found


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
