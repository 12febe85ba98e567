"""`closedloop forget` on HubSpot: remove what quotes the person from tickets and tasks.

For each erasure: the ticket's notes (associations v4 tickets->notes, then notes batch
read) that carry a hook marker are archived (notes batch archive, 100 a call); the mapped
ticket properties are blanked (tickets batch update); the follow-up tasks' subject and
body are emptied (tasks batch update), the subject keeping only a neutral word so the task
still reads as ClosedLoop's. Every step is idempotent: an archived note is no longer
associated, so a retry finds nothing to archive. A record deleted since (a 207 per-record
error) has nothing left to erase and counts as done, and a ticket properties call refused
whole (a property `closedloop setup` has not created, so nothing was ever written there) is
logged and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import structlog
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.notes import (
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectId,
)
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInput as TaskBatchInput,
)
from hubspot.crm.objects.tasks import (
    SimplePublicObjectBatchInput as TaskInput,
)
from hubspot.crm.tickets import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)

from closedloop.integration.base import HOOK_MARKER, Erasure, WriteResult
from closedloop.integration.errors import RecordRejected
from closedloop.integration.hubspot._tickets import ASSOCIATION_BATCH

log = structlog.get_logger(__name__)

BATCH: Final = 100  # notes read/archive, tickets and tasks update limits
ERASED_SUBJECT: Final = "Follow-up (erased on request)"

CallFn = Callable[..., Any]  # HubSpotAdapter._call: one retried, counted SDK call


def erase_quotes(call: CallFn, associations_api: Any, notes_api: Any, tickets_api: Any,
                 tasks_api: Any, items: Sequence[Erasure], *, source: str) -> WriteResult:
    """Archive hook notes, blank ticket properties and task text; every key is written
    unless a whole call fails (then it raises, and the caller retries all of it)."""
    tickets = list(dict.fromkeys(i.ticket_id for i in items if i.ticket_id))
    notes = _hook_notes(call, associations_api, notes_api, tickets)
    for start in range(0, len(notes), BATCH):
        call("notes_archive", notes_api.archive,
             batch_input_simple_public_object_id=BatchInputSimplePublicObjectId(
                 inputs=[SimplePublicObjectId(id=n) for n in notes[start:start + BATCH]]))
    blank: dict[str, dict[str, str]] = {}
    for item in items:
        if item.ticket_id and item.ticket_properties:
            blank.setdefault(item.ticket_id, {}).update(item.ticket_properties)
    rows = list(blank.items())
    for start in range(0, len(rows), BATCH):
        try:
            call("tickets_update", tickets_api.update,
                 batch_input_simple_public_object_batch_input=(
                     BatchInputSimplePublicObjectBatchInput(inputs=[
                         SimplePublicObjectBatchInput(id=t, properties=p)
                         for t, p in rows[start:start + BATCH]])))
        except RecordRejected as exc:  # a property setup never created: nothing held there
            log.warning("hubspot.quotes_erase.properties_refused", source=source,
                        tickets=len(rows[start:start + BATCH]), error=str(exc)[:300])
    tasks = list(dict.fromkeys(t for i in items for t in i.follow_up_ids))
    for start in range(0, len(tasks), BATCH):
        call("tasks_update", tasks_api.update,
             batch_input_simple_public_object_batch_input=TaskBatchInput(inputs=[
                 TaskInput(id=t, properties={"hs_task_subject": ERASED_SUBJECT,
                                             "hs_task_body": ""})
                 for t in tasks[start:start + BATCH]]))
    log.info("hubspot.quotes_erased", source=source, notes=len(notes), tickets=len(rows),
             tasks=len(tasks))
    return WriteResult(written=[i.key for i in items])


def _hook_notes(call: CallFn, associations_api: Any, notes_api: Any,
                tickets: Sequence[str]) -> list[str]:
    """Ids of the notes on these tickets whose body carries a hook marker."""
    note_ids: list[str] = []
    for start in range(0, len(tickets), ASSOCIATION_BATCH):
        body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[
            PublicFetchAssociationsBatchRequest(id=t)
            for t in tickets[start:start + ASSOCIATION_BATCH]])
        answer = call("ticket_notes", associations_api.get_page, from_object_type="tickets",
                      to_object_type="notes",
                      batch_input_public_fetch_associations_batch_request=body)
        note_ids += [str(to.to_object_id) for row in answer.results or [] for to in row.to or []]
    found: list[str] = []
    unique = list(dict.fromkeys(note_ids))
    for start in range(0, len(unique), BATCH):
        read = BatchReadInputSimplePublicObjectId(
            properties=["hs_note_body"], properties_with_history=[],
            inputs=[SimplePublicObjectId(id=n) for n in unique[start:start + BATCH]])
        answer = call("notes_read", notes_api.read, batch_read_input_simple_public_object_id=read)
        found += [str(n.id) for n in answer.results or []
                  if HOOK_MARKER in str((n.properties or {}).get("hs_note_body") or "")]
    return found
