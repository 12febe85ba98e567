"""Follow-up tasks on HubSpot: one CRM task per unhappy answer, for the right owner.

Created with tasks batch create, 100 per call, associated inline with the contact (type
204) and the ticket (230); updated (re-score, comment) with tasks batch update; both as plain
JSON (_raw.py: no SDK model per task). The owner is
the ticket's owner at rating time, else the contact's owner, else the configured one:
`rating_time_owners` takes the ticket's owner from the rating-time read the follow-up job
passes in (`FollowUp.at_rating`), reads the tickets of items without one (tickets batch
read), then the contacts' owners for the rest (contacts batch read).

Creates are idempotent: the task subject ends with ``[key]``. When a create's outcome is
unknown (5xx, timeout, cut connection), the next attempt first reads the contacts' tasks
(associations v4 contacts->tasks, tasks batch read) and keeps the task it finds instead of
creating a second one; `check_first` items (an earlier run's outcome was unknown) are looked
up before the first attempt too. A batch refused whole (an owner who left, a deleted
ticket) is halved until the refused item stands alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import structlog
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.tasks import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from closedloop.integration._translate import redact
from closedloop.integration.base import FollowUp, FollowUpResult
from closedloop.integration.errors import RecordRejected
from closedloop.integration.hubspot._errors import batch_errors, outcome_unknown
from closedloop.integration.hubspot._notes import PostFn, association, errors_of, note_html

log = structlog.get_logger(__name__)

TASK_BATCH: Final = 100
TASK_TO_CONTACT: Final = 204
TASK_TO_TICKET: Final = 230
SUBJECT_MAX: Final = 250

CallFn = Callable[..., Any]
CountFn = Callable[[str], None]
Found = Callable[[Sequence[FollowUp]], dict[str, str]]
"""Follow-ups -> {key: task id} of the ones whose task already exists (one try)."""


def marker(key: str) -> str:
    return f"[{key}]"


def subject_with_marker(item: FollowUp) -> str:
    tail = f" {marker(item.key)}"
    return item.subject[: SUBJECT_MAX - len(tail)] + tail


def rating_time_owners(call: CallFn, tickets_api: Any, contacts_api: Any,
                       items: Sequence[FollowUp]) -> dict[str, str]:
    """key -> owner id: the ticket's owner at rating time (as passed in, else read now),
    else the contact's owner (batch reads)."""
    owners: dict[str, str] = {}
    wanted = [i for i in items if not i.use_configured]
    tickets = list(dict.fromkeys(i.ticket_id for i in wanted
                                 if i.ticket_id and i.at_rating is None))
    of_ticket = _owners_of(call, "tickets_read", tickets_api, tickets)
    for item in wanted:
        owner = (item.at_rating.owner_id if item.at_rating is not None
                 else of_ticket.get(item.ticket_id or ""))
        if item.ticket_id and owner:
            owners[item.key] = owner
    rest = list(dict.fromkeys(i.contact_id for i in wanted if i.key not in owners))
    of_contact = _owners_of(call, "contacts_read", contacts_api, rest)
    for item in wanted:
        if item.key not in owners and of_contact.get(item.contact_id):
            owners[item.key] = of_contact[item.contact_id]
    return owners


def _owners_of(call: CallFn, endpoint: str, api: Any, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), TASK_BATCH):
        body = BatchReadInputSimplePublicObjectId(
            properties=["hubspot_owner_id"], properties_with_history=[],
            inputs=[SimplePublicObjectId(id=i) for i in ids[start:start + TASK_BATCH]])
        answer = call(endpoint, api.read, batch_read_input_simple_public_object_id=body)
        for record in answer.results or []:
            owner = (record.properties or {}).get("hubspot_owner_id")
            if owner:
                found[str(record.id)] = str(owner)
    return found


def _properties(item: FollowUp, owner: str | None) -> dict[str, str]:
    props = {"hs_task_subject": subject_with_marker(item),
             "hs_task_body": note_html(item.body),
             "hs_task_priority": "HIGH", "hs_task_type": "TODO"}
    if item.due_at is not None:
        props["hs_timestamp"] = item.due_at.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
    if owner:
        props["hubspot_owner_id"] = owner
    return props


def _create_input(item: FollowUp, owner: str | None) -> dict[str, Any]:
    """One task of a batch create, as plain JSON (the SDK's model serialized)."""
    links = [association(item.contact_id, TASK_TO_CONTACT)]
    if item.ticket_id:
        links.append(association(item.ticket_id, TASK_TO_TICKET))
    return {"properties": {**_properties(item, owner), "hs_task_status": "NOT_STARTED"},
            "associations": links, "objectWriteTraceId": item.key}


def _create(call: CallFn, count: CountFn, post: PostFn, chunk: list[FollowUp],
            owners: dict[str, str], found: Found, result: FollowUpResult) -> None:
    todo = chunk
    unknown = any(i.check_first for i in chunk)

    def attempt(**kwargs: Any) -> Any:
        nonlocal todo, unknown
        if unknown:  # the last attempt may have created tasks: never create them twice
            landed = found(todo)
            result.created.update(landed)
            todo = [i for i in todo if i.key not in landed]
            unknown = False
        if not todo:
            return None
        body = {"inputs": [_create_input(i, owners.get(i.key)) for i in todo]}
        count("tasks_create")
        try:
            return post("tasks_create", body)  # plain JSON (_raw.py); it holds the timeout
        except Exception as exc:
            unknown = outcome_unknown(exc)
            raise

    try:
        answer = call("tasks_create", attempt)
    except RecordRejected as exc:
        if len(todo) > 1:
            half = len(todo) // 2
            _create(call, count, post, todo[:half], owners, found, result)
            _create(call, count, post, todo[half:], owners, found, result)
            return
        result.rejected[todo[0].key] = redact(str(exc))[:500]
        return
    if answer is None:
        return
    keys = [i.key for i in todo]
    rejected = batch_errors(errors_of(answer), keys)
    result.rejected.update(rejected)
    for task in answer.get("results") or []:
        key = task.get("objectWriteTraceId")
        subject = str((task.get("properties") or {}).get("hs_task_subject") or "")
        key = key or next((k for k in keys if marker(k) in subject), None)
        if key in keys and key not in rejected:
            result.created[key] = str(task["id"])


def _update(call_json: CallFn, chunk: list[FollowUp], owners: dict[str, str],
            result: FollowUpResult) -> None:
    """Subject and body follow the latest answer; the owner and due date stay as set."""
    body = {"inputs": [
        {"id": str(i.crm_id), "objectWriteTraceId": i.key,
         "properties": {"hs_task_subject": subject_with_marker(i),
                        "hs_task_body": note_html(i.body)}} for i in chunk]}
    try:
        answer = call_json("tasks_update", body)  # plain JSON, retried and counted
    except RecordRejected as exc:
        if len(chunk) > 1:
            half = len(chunk) // 2
            _update(call_json, chunk[:half], owners, result)
            _update(call_json, chunk[half:], owners, result)
            return
        result.rejected[chunk[0].key] = redact(str(exc))[:500]
        return
    by_task = {str(i.crm_id): i.key for i in chunk}
    rejected = batch_errors(errors_of(answer), list(by_task))
    for task_id, reason in rejected.items():
        result.rejected[by_task[task_id]] = f"task gone: {reason}"
    for task in answer.get("results") or []:
        key = by_task.get(str(task.get("id")))
        if key:
            result.updated[key] = str(task["id"])


def write_tasks(call_json: CallFn, self_counted: CallFn, count: CountFn, post: PostFn,
                owners_of: Callable[[Sequence[FollowUp]], dict[str, str]], found: Found,
                items: Sequence[FollowUp], *, source: str) -> FollowUpResult:
    """Create the new tasks and update the known ones, 100 per call, as plain JSON
    (`call_json`: the adapter's retried call; `post`: one attempt, inside a create's own
    retry, which looks for landed tasks first after an unknown outcome)."""
    result = FollowUpResult()
    updates = [i for i in items if i.crm_id]
    creates = [i for i in items if not i.crm_id]
    owners = {i.key: i.owner_id for i in creates if i.owner_id and i.use_configured}
    if creates:
        owners.update(owners_of(creates))
        for item in creates:
            if item.key not in owners and item.owner_id:
                owners[item.key] = item.owner_id
    for start in range(0, len(creates), TASK_BATCH):
        _create(self_counted, count, post, creates[start:start + TASK_BATCH], owners,
                found, result)
    for start in range(0, len(updates), TASK_BATCH):
        _update(call_json, updates[start:start + TASK_BATCH], owners, result)
    log.info("hubspot.tasks.written", source=source, created=len(result.created),
             updated=len(result.updated), rejected=len(result.rejected))
    return result


def landed_tasks(associations_api: Any, tasks_api: Any, count: CountFn,
                 timeout: tuple[float, float], items: Sequence[FollowUp]) -> dict[str, str]:
    """{key: task id} of the items whose marked task is already on their contact."""
    contacts = list(dict.fromkeys(i.contact_id for i in items))
    if not contacts:
        return {}
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[
        PublicFetchAssociationsBatchRequest(id=c) for c in contacts])
    count("contact_tasks")
    answer = associations_api.get_page(
        from_object_type="contacts", to_object_type="tasks",
        batch_input_public_fetch_associations_batch_request=body, _request_timeout=timeout)
    task_ids = [str(to.to_object_id) for row in answer.results or [] for to in row.to or []]
    found: dict[str, str] = {}
    keys = {marker(i.key): i.key for i in items}
    for start in range(0, len(task_ids), TASK_BATCH):
        read = BatchReadInputSimplePublicObjectId(
            properties=["hs_task_subject"], properties_with_history=[],
            inputs=[SimplePublicObjectId(id=t) for t in task_ids[start:start + TASK_BATCH]])
        count("tasks_read")
        got = tasks_api.read(batch_read_input_simple_public_object_id=read,
                             _request_timeout=timeout)
        for task in got.results or []:
            subject = str((task.properties or {}).get("hs_task_subject") or "")
            for mark, key in keys.items():
                if subject.endswith(mark):
                    found[key] = str(task.id)
    if found:
        log.info("hubspot.tasks.found_landed", tasks=len(found))
    return found


