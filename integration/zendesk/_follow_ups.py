"""Follow-up tickets on Zendesk: one per unhappy answer, linked to the original.

Created with tickets/create_many, 100 per job (jobs followed together like update_many,
see _jobs.py; submitted when the follow-up job starts and followed when it ends, so the
write-back's polls in between read them too): the customer is the requester, the first
comment is private unless `FollowUp.public`, the tags are the program's, and the ticket
is assigned to the original ticket's group and assignee at rating time (or the configured
ones). A closed original is
linked with `via_followup_source_id` (Zendesk accepts only closed tickets there); any other
is named in the comment. The group, assignee and status come from the rating-time read the
follow-up job passes in (`FollowUp.at_rating`, the attribution's show_many); only items
without it are read here (`original_tickets`, show_many, 100 a call).

Creates are idempotent: the follow-up's `external_id` is the answer's key. A create whose
outcome is unknown is not re-sent in this call; the next call (`check_first`) asks
`tickets.json?external_id=` first and keeps the ticket it finds. A re-score adds a private
comment to the follow-up ticket (update_many) instead of creating another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog

from closedloop.integration.base import FollowUp, FollowUpResult
from closedloop.integration.errors import PartialWrite
from closedloop.integration.zendesk import _jobs
from closedloop.integration.zendesk._raw_writes import Change, RawWriter, without_nulls

log = structlog.get_logger(__name__)

CallFn = Callable[[str, Callable[[], Any]], Any]
ShowMany = Callable[[str, Sequence[str]], Iterator[dict[str, Any]]]
RunJobs = Callable[..., _jobs.JobOutcome]
StartJobs = Callable[..., _jobs.StartedJobs]


def original_tickets(show_many: ShowMany, items: Sequence[FollowUp]) -> dict[str, dict[str, Any]]:
    """Ticket id -> the original ticket as it stands now (assignee, group, status)."""
    ids = list(dict.fromkeys(i.ticket_id for i in items if i.ticket_id and i.ticket_id.isdigit()
                             and (i.at_rating is None or i.at_rating.closed is None)))
    return {str(t.get("id")): t for t in show_many("tickets_show_many", ids)}


def found_by_external_id(call: CallFn, tickets_api: Any, key: str) -> str | None:
    """The id of the live ticket whose external_id is `key`, if one exists."""
    for ticket in call("tickets_by_external_id", lambda: list(tickets_api(external_id=key))):
        if str(getattr(ticket, "status", "")) != "deleted":
            return str(ticket.id)
    return None


def _original(item: FollowUp, read: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The original as read here, else as the rating-time reading has it (a deleted
    ticket read as nobody, not closed: the same as a ticket show_many leaves out)."""
    if item.ticket_id and item.ticket_id in read:
        return read[item.ticket_id]
    at = item.at_rating
    if at is None or at.closed is None:
        return None
    return {"assignee_id": at.owner_id, "group_id": at.team_id,
            "status": "closed" if at.closed else None}


def _new_ticket(item: FollowUp, original: dict[str, Any] | None) -> Change:
    """The create_many item: only the values set (as zenpy sent them), the first comment."""
    assignee = item.owner_id
    group = item.group_id
    if original is not None and not item.use_configured:
        assignee = str(original.get("assignee_id") or "") or assignee
        group = str(original.get("group_id") or "") or group
    linked = original is not None and original.get("status") == "closed" and item.ticket_id
    return without_nulls({
        "subject": item.subject, "requester_id": int(item.contact_id),
        "external_id": item.key, "tags": list(item.tags),
        "assignee_id": int(assignee) if assignee and assignee.isdigit() else None,
        "group_id": int(group) if group and group.isdigit() else None,
        "via_followup_source_id": int(item.ticket_id) if linked and item.ticket_id else None,
        "comment": {"body": item.body, "public": item.public}})


def start_follow_up_tickets(call: CallFn, start_jobs: StartJobs, run_jobs: RunJobs,
                            tickets_api: Any, writes: RawWriter,
                            originals_of: Callable[[Sequence[FollowUp]],
                                                   dict[str, dict[str, Any]]],
                            items: Sequence[FollowUp], *,
                            source: str) -> Callable[[], FollowUpResult]:
    """Submit the new follow-up tickets' create_many jobs now; the returned call follows
    them to the end, comments on the known ones and gives the result. The writes are
    JSON through `writes`; `tickets_api` (zenpy) only looks up external ids (check_first)."""
    result = FollowUpResult()
    creates: list[FollowUp] = []
    for item in items:
        if not item.contact_id.isdigit():
            result.rejected[item.key] = "not a Zendesk user id"
        elif item.crm_id:
            continue
        elif item.check_first and (found := found_by_external_id(call, tickets_api, item.key)):
            result.created[item.key] = found
        else:
            creates.append(item)
    started: _jobs.StartedJobs | None = None
    if creates:
        originals = originals_of(creates)
        jobs = [(i.key, _new_ticket(i, _original(i, originals))) for i in creates]
        started = start_jobs("tickets_create_many", writes.create_tickets, jobs)

    def finish() -> FollowUpResult:
        if started is not None:
            _collect(result, started.finish)
        _comment_known(run_jobs, writes, items, result)
        log.info("zendesk.follow_ups.written", source=source, created=len(result.created),
                 updated=len(result.updated), rejected=len(result.rejected))
        return result

    return finish


def _comment_known(run_jobs: RunJobs, writes: RawWriter, items: Sequence[FollowUp],
                   result: FollowUpResult) -> None:
    """A re-score's private comment on the follow-up ticket it already has."""
    updates = [i for i in items if i.crm_id and i.key not in result.rejected]
    if not updates:
        return
    by_ticket = {str(i.crm_id): i.key for i in updates}
    jobs = [(str(i.crm_id), {"id": int(str(i.crm_id)), "comment": {
        "body": i.update_text or i.body, "public": False}}) for i in updates
        if str(i.crm_id).isdigit()]
    outcome = _collect(FollowUpResult(), lambda: run_jobs("tickets_update_many",
                                                         writes.update_tickets, jobs))
    for tid in outcome.created:  # update jobs name their tickets: `done` ids
        result.updated[by_ticket[tid]] = tid
    for tid, reason in outcome.rejected.items():
        result.rejected[by_ticket[tid]] = f"follow-up ticket refused the comment: {reason}"


def _collect(result: FollowUpResult, run: Callable[[], _jobs.JobOutcome]) -> FollowUpResult:
    """Fold a job run into `result`; pending items (outcome unknown) are left out, so the
    caller retries them with check_first."""
    try:
        outcome = run()
    except PartialWrite as exc:
        result.rejected.update(exc.rejected)
        log.warning("zendesk.follow_ups.partial", pending=len(exc.pending))
        return result
    for item_id in outcome.done:
        result.created[item_id] = outcome.created.get(item_id, item_id)
    result.rejected.update(outcome.refused)
    return result
