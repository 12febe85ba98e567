"""The events outbox: what changed, written in the same transaction as the change.

A survey sent, an answer, a re-score, a comment, an unsubscribe or a follow-up each add one
row to `events` inside the transaction that makes that change, so a crash can neither lose
an event (the change committed, the event did not) nor invent one (the event committed, the
change did not). The webhook job (daemon/actions/webhooks) fans the rows out to endpoints.

Payloads are the `data` of the webhook body, documented as JSON Schema in
daemon/actions/webhooks/schemas/. They quote the person (e-mail address, comment), so each
row also keeps the normalized address, which `forget` uses to blank them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, RowMapping, Table, select

from closedloop.daemon.store.records import iso, to_db
from closedloop.daemon.store.tables import Base

EVENTS: Table = Base.metadata.tables["events"]
EVENT_KINDS = ("survey.sent", "response.created", "response.updated", "comment.added",
               "contact.unsubscribed", "follow_up.created")
_SENDS: Table = Base.metadata.tables["sends"]


class _HasEngine(Protocol):
    engine: Engine


def event_id(row_id: int) -> str:
    """The public id of an event row: the webhook-id header and the payload's `id`."""
    return f"evt_{row_id}"


def parse_event_id(value: str) -> int:
    """`evt_42` (or `42`) → 42; ValueError for anything else."""
    digits = value.removeprefix("evt_")
    if not digits.isdigit():
        raise ValueError(f"expected an event id such as evt_42, got {value!r}")
    return int(digits)


_INSERT_EVENT = EVENTS.insert().returning(EVENTS.c.id)  # built once: one per mail


def emit_event(conn_or_store: Connection | _HasEngine, kind: str, payload: Mapping[str, Any],
               now: datetime, *, send_id: int | None = None,
               send: Any = None) -> int:
    """Add one event; returns its row id. Pass the change's own Connection to join its
    transaction (the point of an outbox); a Store opens a transaction of its own.

    `send_id` (or `payload["send_id"]`) ties the event to a survey, hence to a person, so
    `forget` finds it; the program comes from the payload or that survey. `send`: that
    survey's row when the caller has just read it (its program and email_norm), which
    saves reading it again.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {EVENT_KINDS}")
    if not isinstance(conn_or_store, Connection):
        with conn_or_store.engine.begin() as conn:
            return emit_event(conn, kind, payload, now, send_id=send_id, send=send)
    send_id = send_id if send_id is not None else payload.get("send_id")
    program = payload.get("program")
    email_norm = None
    if send_id is not None:
        if send is None or send["id"] != send_id:
            found = conn_or_store.execute(select(_SENDS.c.program, _SENDS.c.email_norm)
                                          .where(_SENDS.c.id == send_id)).first()
            send = found._mapping if found is not None else None
        if send is not None:
            program = program or send["program"]
            email_norm = send["email_norm"]
    new_id: int = conn_or_store.execute(
        _INSERT_EVENT, event_row(kind, payload, now, send_id, program, email_norm)).scalar_one()
    return new_id


def event_row(kind: str, payload: Mapping[str, Any], now: datetime, send_id: int | None,
              program: str | None, email_norm: str | None) -> dict[str, Any]:
    """The `events` row of one event (for callers inserting several in one statement)."""
    return {"kind": kind, "program": program, "send_id": send_id, "email_norm": email_norm,
            "payload": dict(payload), "created_at": to_db(now), "routed_at": None}


def survey_payload(send: RowMapping) -> dict[str, Any]:
    """What every event about a survey says about it: program, person, ticket."""
    return {
        "send_id": send["id"],
        "program": send["program"],
        "survey_type": send["survey_type"],
        "source": send["source"],
        "contact": {"id": send["contact_id"], "email": send["email"]},
        "ticket_id": send["ticket_id"],
    }


def sent_payload(send: RowMapping, now: datetime) -> dict[str, Any]:
    return {**survey_payload(send), "kind": send["kind"], "sent_at": iso(now)}


def response_payload(send: RowMapping, response: Any) -> dict[str, Any]:
    """A response event's data: the whole current answer (response: a ResponseRecord)."""
    return {
        **survey_payload(send),
        "response_id": response.id,
        "score": response.score,
        "category": response.category,
        "comment": response.comment,
        "answered_at": iso(response.answered_at),
        "updated_at": iso(response.updated_at),
    }


def unsubscribed_payload(send: RowMapping, now: datetime) -> dict[str, Any]:
    return {**survey_payload(send), "unsubscribed_at": iso(now)}
