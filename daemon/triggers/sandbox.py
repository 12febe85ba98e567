"""A sandbox CRM's own automation aimed at the daemon, for the demo and the end-to-end tests.

`aim(side, program, target)` is what an admin does once: HubSpot, a workflow whose "Send a
webhook" action names the program and the enrolled contact (signed with the app's secret);
Zendesk, what `closedloop setup --zendesk-trigger` does (the webhook and the program's
survey trigger, through the API with the real adapter), the signing secret read back. It
returns the secret the daemon's source must verify with. `fire(side, contact)` is the event:
HubSpot enrolls the contact, Zendesk solves a ticket of theirs tagged closedloop_<program>;
it returns once the sandbox has delivered the call.
"""

from __future__ import annotations

from datetime import datetime

from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide
from closedloop.integration.zendesk import ZendeskAdapter

APP_SECRET = "sandbox-app-client-secret-triggers"  # noqa: S105 (the sandbox app's, published)


def aim(side: HubSpotSide | ZendeskSide, program: str, target: str) -> str:
    """The CRM's automation calls `target` for `program`; returns the signing secret."""
    if isinstance(side, HubSpotSide):
        side.sandbox.workflows.add(target, body={
            "program": program, "contact_id": "{{contact.id}}",
            "event_id": f"{program}-{{{{contact.id}}}}"}, client_secret=APP_SECRET)
        return APP_SECRET
    sandbox = side.sandbox
    with ZendeskAdapter(side.name, subdomain=sandbox.subdomain, email=sandbox.email,
                        token=sandbox.token, base_url=sandbox.url) as adapter:
        made = adapter.ensure_survey_trigger(program, target)
        return adapter.webhook_signing_secret(made.webhook_id)


def fire(side: HubSpotSide | ZendeskSide, program: str, contact: str,
         at: datetime | None = None, timeout: float = 10.0) -> bool:
    """The event for `contact` (HubSpot: the latest workflow enrolls them; Zendesk: a ticket
    tagged closedloop_<program> is solved at `at`); False if not delivered in `timeout`."""
    if isinstance(side, HubSpotSide):
        flows = side.sandbox.workflows
        flows.enroll(flows.latest(), contact)
        return flows.flush(timeout)
    ticket = side.state.create_ticket(program.title(), contact, tags=[f"closedloop_{program}"])
    side.state.solve_ticket(ticket, at=at)
    return bool(side.sandbox.automation.notifier.flush(timeout))
