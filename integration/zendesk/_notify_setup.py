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


def ensure_solved_trigger(call: CallFn, zd: Any, name: str, endpoint: str) -> TriggerSetup:
    """The webhook `name` (to `endpoint`) and the trigger `name` notifying it on solved."""
    hook = next((h for page in pages(call, "webhooks", zd.webhooks.list)
                 for h in page if getattr(h, "name", None) == name), None)
    hook_created = hook is None
    if hook is None:
        hook = call("webhook_create", lambda: zd.webhooks.create(Webhook(
            name=name, endpoint=endpoint, http_method="POST", request_format="json",
            status="active", subscriptions=["conditional_ticket_events"])))
    hook_id = str(hook.id)
    trigger = next((t for page in pages(call, "triggers", zd.triggers)
                    for t in page if getattr(t, "title", None) == name), None)
    trigger_created = trigger is None
    if trigger is None:
        trigger = call("trigger_create", lambda: zd.triggers.create(Trigger(
            title=name, description="ClosedLoop: a survey after a ticket is solved",
            conditions={"all": [{"field": "status", "operator": "value", "value": "solved"}],
                        "any": []},
            actions=[{"field": "notification_webhook", "value": [hook_id, TRIGGER_BODY]}])))
    return TriggerSetup(hook_id, str(getattr(hook, "endpoint", endpoint)), hook_created,
                        str(trigger.id), trigger_created)
