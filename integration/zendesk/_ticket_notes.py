"""Ticket hooks on Zendesk: tags and a private note per ticket, in update_many jobs.

Updates for one ticket are merged (tags united, notes joined). A closed ticket is refused
per item: Zendesk never changes one. A call that ends part way raises PartialWrite (see
_jobs.py), so only the tickets whose note is unknown are retried.

Notes are idempotent: each carries its update's `key` as ``[key]``. A submit that failed
with a 5xx or a timeout is not re-sent here (the job may exist); the caller retries later
with `check_first`, and notes whose marker is already among the ticket's comments are then
not added again (one comments read per such ticket).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import structlog

from closedloop.integration.base import TicketUpdate, WriteResult
from closedloop.integration.errors import PartialWrite, RecordRejected
from closedloop.integration.zendesk._jobs import JobOutcome
from closedloop.integration.zendesk._paging import CallFn, pages

log = structlog.get_logger(__name__)

CLOSED_REASON = ("ticket is closed: Zendesk never changes a closed ticket (closed is final); "
                 "tag it while solved, or hook a follow-up ticket instead")
RunJobs = Callable[[str, Callable[[Any], Any], list[tuple[str, Any]], WriteResult], JobOutcome]
LandedNotes = Callable[[dict[str, list[str]]], dict[str, set[str]]]


def closed_reasons(refused: dict[str, str]) -> dict[str, str]:
    """Zendesk's terse refusal of a closed ticket, replaced by what to do about it."""
    return {tid: CLOSED_REASON if "closed" in reason.lower() else reason
            for tid, reason in refused.items()}


def update_tickets(run_jobs: RunJobs, submit: Callable[[Any], Any], landed: LandedNotes,
                   updates: Sequence[TicketUpdate]) -> WriteResult:
    """Merge the updates per ticket, drop notes already landed, write the rest: each
    ticket's change as JSON (`additional_tags`, which Zendesk adds to the ticket's tags,
    and a private `comment`), sent by `submit` (RawWriter.update_tickets)."""
    merged: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for update in updates:
        tags, notes, markers = merged.setdefault(str(update.ticket_id), ([], [], []))
        tags.extend(t for t in update.add_tags if t and t not in tags)
        if update.note:
            marker = f"[{update.key}]" if update.key else None
            notes.append(f"{update.note}\n\n{marker}" if marker else update.note)
            if marker and update.check_first:
                markers.append(marker)
    result = WriteResult()
    found = landed({tid: m for tid, (_, _, m) in merged.items() if m and tid.isdigit()})
    items: list[tuple[str, Any]] = []
    for tid, (tags, notes, _) in merged.items():
        if not tid.isdigit():
            result.rejected[tid] = "not a Zendesk ticket id"
            continue
        fresh = [n for n in notes if not any(n.endswith(m) for m in found.get(tid, ()))]
        if (not tags and not notes) or (notes and not fresh):
            result.written.append(tid)  # nothing to do, or the notes already landed
            continue
        ticket: dict[str, Any] = {"id": int(tid)}
        if tags:
            ticket["additional_tags"] = tags
        if fresh:
            ticket["comment"] = {"body": "\n\n".join(fresh), "public": False}
        items.append((tid, ticket))
    try:
        done = run_jobs("tickets_update_many", submit, items, result)
    except PartialWrite as exc:
        exc.rejected = closed_reasons(exc.rejected)
        raise
    return WriteResult(written=done.done, rejected=closed_reasons(done.refused))


def landed_notes(call: CallFn, tickets_api: Any, markers: dict[str, list[str]], *,
                 source: str) -> dict[str, set[str]]:
    """Per ticket, which of `markers` its comments already carry (comments list, paged)."""
    found: dict[str, set[str]] = {}
    for tid, wanted in markers.items():
        try:
            for page in pages(call, "ticket_comments",
                              partial(tickets_api.comments, ticket=int(tid))):
                bodies = [str(getattr(c, "body", "") or "") for c in page]
                found.setdefault(tid, set()).update(
                    m for m in wanted if any(m in body for body in bodies))
        except RecordRejected:
            continue  # the ticket is gone: its update will be refused on its own
    if found:
        log.info("zendesk.notes.found_landed", source=source,
                 notes=sum(len(v) for v in found.values()))
    return found
