"""Notes and tasks batch creates and the tasks batch update go as plain JSON
(integration/hubspot/_raw.py): the bodies equal what hubspot-api-client's models serialized
to, edge values included (non-ASCII and HTML text, no contact, no ticket, no owner, a due
date), and the adapter still reads the answers as before (ids, trace ids, a 207's refusals:
the sandbox tests in test_hubspot_hooks.py and test_follow_up_adapters.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hubspot import HubSpot
from hubspot.crm.objects.notes import AssociationSpec as NoteSpec
from hubspot.crm.objects.notes import PublicAssociationsForObject as NoteLink
from hubspot.crm.objects.notes import PublicObjectId as NoteTo
from hubspot.crm.objects.notes import SimplePublicObjectBatchInputForCreate as NoteInput
from hubspot.crm.objects.tasks import AssociationSpec as TaskSpec
from hubspot.crm.objects.tasks import PublicAssociationsForObject as TaskLink
from hubspot.crm.objects.tasks import PublicObjectId as TaskTo
from hubspot.crm.objects.tasks import SimplePublicObjectBatchInput as TaskUpdate
from hubspot.crm.objects.tasks import SimplePublicObjectBatchInputForCreate as TaskInput

from closedloop.integration.base import FollowUp, FollowUpResult
from closedloop.integration.hubspot import _notes, _tasks
from closedloop.integration.hubspot._notes import NOTE_TO_CONTACT, NOTE_TO_TICKET, _Note
from closedloop.integration.hubspot._tasks import TASK_TO_CONTACT, TASK_TO_TICKET

STAMP = "2026-05-01T12:00:00.000Z"


def _serialized(model: Any) -> Any:
    """What the SDK sends for a model (its ApiClient's own serialization)."""
    return HubSpot().crm.objects.notes.batch_api.api_client.sanitize_for_serialization(model)


def _sdk_note(note: _Note, contact_ids: tuple[str, ...]) -> NoteInput:
    """The note input as the adapter built it with the SDK's models."""
    links = [NoteLink(to=NoteTo(id=note.ticket_id), types=[NoteSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=NOTE_TO_TICKET)])]
    links += [NoteLink(to=NoteTo(id=c), types=[NoteSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=NOTE_TO_CONTACT)])
        for c in contact_ids]
    return NoteInput(properties={"hs_note_body": note.body, "hs_timestamp": STAMP},
                     associations=links, object_write_trace_id=note.ticket_id)


def _sdk_task(item: FollowUp, owner: str | None) -> TaskInput:
    links = [TaskLink(to=TaskTo(id=item.contact_id), types=[TaskSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO_CONTACT)])]
    if item.ticket_id:
        links.append(TaskLink(to=TaskTo(id=item.ticket_id), types=[TaskSpec(
            association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO_TICKET)]))
    return TaskInput(properties={**_tasks._properties(item, owner),
                                 "hs_task_status": "NOT_STARTED"},
                     associations=links, object_write_trace_id=item.key)


def _item(key: str, **fields: Any) -> FollowUp:
    values: dict[str, Any] = {"key": key, "contact_id": "501", "ticket_id": "901",
                              "subject": "Unhappy answer — Ærø « spécial »",
                              "body": "Score 1\n<b>slow</b> & late", "owner_id": None,
                              "due_at": None}
    values.update(fields)
    return FollowUp(**values)


def test_note_inputs_serialize_as_the_sdk_models_did() -> None:
    """A note with one, two and no contacts, with HTML and non-ASCII text: equal bodies."""
    notes = [_Note("901", _notes.note_html("Très <lent> & cher\nligne 2") + "<br><br>[k1]",
                   "[k1]", False, ()),
             _Note("902", _notes.note_html(""), None, False, ())]
    for note, contacts in ((notes[0], ("501",)), (notes[0], ("501", "502")), (notes[1], ())):
        assert _serialized(_sdk_note(note, contacts)) == _notes._input(note, contacts, STAMP)


def test_task_inputs_serialize_as_the_sdk_models_did() -> None:
    """Tasks with owner and due date, without ticket, without owner: equal create bodies;
    the update's inputs too."""
    due = datetime(2026, 5, 2, 9, 30, tzinfo=UTC)
    cases = [(_item("a", due_at=due), "71"), (_item("b", ticket_id=None), None),
             (_item("c", subject="x" * 400), "72")]
    for item, owner in cases:
        assert _serialized(_sdk_task(item, owner)) == _tasks._create_input(item, owner)
    item = _item("d", crm_id="3001")
    sdk = TaskUpdate(id="3001", object_write_trace_id="d",
                     properties={"hs_task_subject": _tasks.subject_with_marker(item),
                                 "hs_task_body": _notes.note_html(item.body)})
    sent: list[dict[str, Any]] = []

    def call_json(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        sent.append(body)
        return {"results": [{"id": "3001", "properties": {}}]}

    result = FollowUpResult()
    _tasks._update(call_json, [item], {}, result)
    assert sent == [{"inputs": [_serialized(sdk)]}]
    assert result.updated == {"d": "3001"}
