"""`closedloop setup --zendesk-trigger`: the webhook and the trigger that tell ClosedLoop when
a ticket is solved, created through the API once and found by name afterwards.

The webhook points at the daemon's /hooks/<source> (a signed POST, JSON); the trigger fires
when a ticket's status changes to solved and notifies the webhook with a small JSON body
naming the ticket. Both are looked up by exact name first, so running setup again creates
nothing. The signing secret stays in Zendesk (Admin Center, or GET
/api/v2/webhooks/{id}/signing_secret): ClosedLoop reads it from the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zenpy.lib.api_objects import Trigger, Webhook

from closedloop.integration.zendesk._paging import CallFn, pages

TRIGGER_BODY = json.dumps({"event": "closedloop.ticket_solved", "ticket_id": "{{ticket.id}}",
                           "status": "{{ticket.status}}"})


@dataclass(frozen=True)
class TriggerSetup:
    """What setup found or made: the webhook's id, and whether each part was created now."""

    webhook_id: str
    endpoint: str
    webhook_created: bool
    trigger_id: str
    trigger_created: bool


WEBHOOK_NAME = "ClosedLoop"  # one webhook per source: one signing secret for all its triggers
_OLD_WEBHOOK_NAMES = ("ClosedLoop: ticket solved",)  # what earlier setups named it
SOLVED = {"field": "status", "operator": "value", "value": "solved"}


def survey_tag(program: str) -> str:
    """The ticket tag that opts a solved ticket into an event program's survey trigger."""
    return f"closedloop_{program}"


def survey_trigger_body(program: str) -> str:
    """The webhook body of an event program's trigger (daemon/web/hooks/trigger_payloads)."""
    return json.dumps({"program": program, "contact_id": "{{ticket.requester.id}}",
                       "ticket_id": "{{ticket.id}}"})


def ensure_webhook(call: CallFn, zd: Any, endpoint: str) -> tuple[str, str, bool]:
    """ClosedLoop's webhook (id, endpoint, created now), found by name else created."""
    names = (WEBHOOK_NAME, *_OLD_WEBHOOK_NAMES)
    hook = next((h for page in pages(call, "webhooks", zd.webhooks.list)
                 for h in page if getattr(h, "name", None) in names), None)
    created = hook is None
    if hook is None:
        hook = call("webhook_create", lambda: zd.webhooks.create(Webhook(
            name=WEBHOOK_NAME, endpoint=endpoint, http_method="POST", request_format="json",
            status="active", subscriptions=["conditional_ticket_events"])))
    return str(hook.id), str(getattr(hook, "endpoint", endpoint)), created


def ensure_trigger(call: CallFn, zd: Any, title: str, description: str,
                   conditions: list[dict[str, str]], hook_id: str, body: str) -> tuple[str, bool]:
    """The trigger `title` (id, created now) notifying the webhook with `body` when all
    `conditions` hold; found by title else created."""
    trigger = next((t for page in pages(call, "triggers", zd.triggers)
                    for t in page if getattr(t, "title", None) == title), None)
    created = trigger is None
    if trigger is None:
        trigger = call("trigger_create", lambda: zd.triggers.create(Trigger(
            title=title, description=description,
            conditions={"all": conditions, "any": []},
            actions=[{"field": "notification_webhook", "value": [hook_id, body]}])))
    return str(trigger.id), created


def ensure_solved_trigger(call: CallFn, zd: Any, name: str, endpoint: str) -> TriggerSetup:
    """The webhook (to `endpoint`) and the trigger `name` notifying it on solved."""
    hook_id, actual, hook_created = ensure_webhook(call, zd, endpoint)
    trigger_id, trigger_created = ensure_trigger(
        call, zd, name, "ClosedLoop: a survey after a ticket is solved", [SOLVED], hook_id,
        TRIGGER_BODY)
    return TriggerSetup(hook_id, actual, hook_created, trigger_id, trigger_created)


def ensure_survey_trigger(call: CallFn, zd: Any, program: str, endpoint: str) -> TriggerSetup:
    """The webhook and the trigger "ClosedLoop: survey <program>": a ticket solved with the
    tag closedloop_<program> asks for that program's survey of its requester. The admin
    edits the conditions in Admin Center as needed; setup never overwrites them."""
    hook_id, actual, hook_created = ensure_webhook(call, zd, endpoint)
    tag = {"field": "current_tags", "operator": "includes", "value": survey_tag(program)}
    trigger_id, trigger_created = ensure_trigger(
        call, zd, f"ClosedLoop: survey {program}",
        f"ClosedLoop: a {program} survey to the requester (edit the conditions freely)",
        [SOLVED, tag], hook_id, survey_trigger_body(program))
    return TriggerSetup(hook_id, actual, hook_created, trigger_id, trigger_created)


def signing_secret(call: CallFn, zd: Any, hook_id: str) -> str:
    """The webhook's signing secret, read back (GET /api/v2/webhooks/{id}/signing_secret)."""
    answer = call("webhook_secret", lambda: zd.webhooks.show_secret(hook_id))
    secret = getattr(answer, "secret", None)  # zenpy's WebhookSecret (algorithm, secret)
    if not isinstance(secret, str) or not secret:
        raise ValueError("Zendesk returned no signing secret for the webhook")
    return secret
