"""What one write-back round writes, planned from its claimed rows before any CRM call.

Pure functions of the rows and the mapping: contact rows coalesced per contact ("latest
answer wins" per property prefix), hook rows merged per ticket under a marker made of their
ids (`note_key`), so a retried note is found instead of added again (jobs/writeback.py).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from closedloop.daemon.store import WriteBackRecord
from closedloop.integration.base import TicketUpdate
from closedloop.mappings import CrmMapping


@dataclass
class Coalesced:
    """What one round writes: properties per contact, and rows that cannot be written."""

    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)  # row id -> reason


@dataclass
class HookPlan:
    """One round's ticket hooks: one update per ticket, and the rows behind each."""

    updates: list[TicketUpdate] = field(default_factory=list)
    rows_of: dict[str, list[int]] = field(default_factory=dict)  # ticket id -> row ids
    nothing: list[int] = field(default_factory=list)  # no hook configured for these answers
    rejected: dict[int, str] = field(default_factory=dict)
    waiting: list[int] = field(default_factory=list)  # behind a note that may have landed


def winners(latest: dict[tuple[str, str, str], tuple[datetime, int]],
            mapping: CrmMapping) -> dict[tuple[str, str], int]:
    """(contact, property prefix) → the send answered last among the programs writing there."""
    best: dict[tuple[str, str], tuple[datetime, int]] = {}
    for (contact, survey, program), candidate in latest.items():
        key = (contact, mapping.prefix_of(program, survey))
        if key not in best or candidate > best[key]:
            best[key] = candidate
    return {key: send_id for key, (_, send_id) in best.items()}


def coalesce(rows: Sequence[WriteBackRecord], mapping: CrmMapping,
             latest: dict[tuple[str, str], int]) -> Coalesced:
    """Contact id → properties, in the order the rows were recorded.

    `latest` maps (contact, property prefix) to the send answered last (see `winners`);
    answers to other sends of that prefix are superseded and write nothing. Answers never
    write the sent date: only the 'sent' rows, recorded in send order, do. A 'forget' row
    blanks every mapped property; rows recorded after it write over the blanks.
    """
    out = Coalesced()
    merged: dict[str, dict[str, str]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (r.contact_id, r.created_at, r.id)):
        data: dict[str, Any] = dict(row.data)
        try:
            if row.kind == "forget":
                props = mapping.blank_all()
            elif row.kind == "preference":
                props = mapping.render(data, kind="preference")
            elif row.kind in ("answer", "sent"):
                if row.kind == "answer":
                    prefix = mapping.prefix_of(data.get("program"), str(data.get("survey_type")))
                    if latest.get((row.contact_id, prefix)) != row.send_id:
                        continue
                    data.pop("sent_at", None)
                props = mapping.render(data, kind=row.kind)
            else:
                out.rejected[row.id] = f"unknown write-back kind {row.kind!r}"
                continue
        except (ValueError, KeyError) as exc:
            out.rejected[row.id] = f"mapping cannot render it: {exc}"
            continue
        merged[row.contact_id].update(props)
    out.properties = {contact: props for contact, props in merged.items() if props}
    return out


def plan_hooks(rows: Sequence[WriteBackRecord], mapping: CrmMapping) -> HookPlan:
    """Merge hook rows per ticket: tags united, the latest answer's note per survey.

    Rows that were tried (a failed or unknown attempt, or a lapsed claim) may have landed
    their note: they go again alone, the same rows as before, so their marker is the one
    the CRM may hold and the adapter finds it; rows queued since for their ticket wait for
    the next run (`waiting`) instead of changing the marker and repeating the note.
    """
    plan = HookPlan()
    latest: dict[tuple[str, int | None], WriteBackRecord] = {}
    tried = {row.id for row in rows if row.attempts or row.lapsed}  # may have landed
    retried = {_ticket_of(r) for r in rows if r.id in tried} - {""}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        ticket = _ticket_of(row)
        if not ticket or not (mapping.hooks.enabled or mapping.ticket_properties):
            plan.nothing.append(row.id)
            continue
        if ticket in retried and row.id not in tried:
            plan.waiting.append(row.id)
            continue
        latest[(ticket, row.send_id)] = row  # a newer row of one survey replaces its note
        plan.rows_of.setdefault(ticket, []).append(row.id)
    tags: dict[str, list[str]] = defaultdict(list)
    notes: dict[str, list[str]] = defaultdict(list)
    answering: dict[str, list[str]] = defaultdict(list)  # contacts whose note is carried
    props: dict[str, dict[str, str]] = defaultdict(dict)  # later answers' values win
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        ticket = _ticket_of(row)
        if ticket not in plan.rows_of or row.id in plan.waiting:
            continue
        try:
            update = mapping.hooks.ticket_update(ticket, row.data)
            props[ticket].update(mapping.render_ticket(row.data))
        except (ValueError, KeyError) as exc:
            plan.rejected[row.id] = f"hook cannot render it: {exc}"
            continue
        if update is None:
            continue
        tags[ticket] += [t for t in update.add_tags if t not in tags[ticket]]
        if update.note and latest[(ticket, row.send_id)] is row:
            notes[ticket].append(update.note)
            if row.contact_id and row.contact_id not in answering[ticket]:
                answering[ticket].append(row.contact_id)
    for ticket, ids in plan.rows_of.items():
        if tags[ticket] or notes[ticket] or props[ticket]:
            plan.updates.append(TicketUpdate(ticket_id=ticket, add_tags=tuple(tags[ticket]),
                                             note="\n\n".join(notes[ticket]) or None,
                                             key=note_key([i for i in ids
                                                           if i not in plan.rejected]),
                                             check_first=any(i in tried for i in ids),
                                             properties=props[ticket],
                                             contact_ids=tuple(answering[ticket])))
        else:
            plan.nothing += [i for i in ids if i not in plan.rejected]
    updated = {u.ticket_id for u in plan.updates}  # a set: a round holds 2,000 rows
    plan.rows_of = {t: ids for t, ids in plan.rows_of.items() if t in updated}
    return plan


def _ticket_of(row: WriteBackRecord) -> str:
    return str(row.data.get("ticket_id") or "")


def note_key(row_ids: Sequence[int]) -> str:
    """The marker of the note these hook rows make: the same rows give the same marker."""
    ids = sorted(row_ids)
    if len(ids) == 1:
        return f"cl-hook-{ids[0]}"
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:10]
    return f"cl-hook-{ids[0]}-{digest}"
