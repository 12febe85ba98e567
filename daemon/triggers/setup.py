"""What `closedloop setup` says and does for survey triggers ([sources.X] triggers = true,
[triggers] generic = true).

HubSpot workflows are built in HubSpot's editor, so setup prints the "Send a webhook"
action to add (URL, signature, body). For Zendesk, `--zendesk-trigger` creates through the
API, once (found by name afterwards), ClosedLoop's webhook to /hooks/<source> and a trigger
"ClosedLoop: survey <program>" per event program: a ticket solved with the tag
closedloop_<program> asks for that program's survey of its requester (edit the conditions in
Admin Center as you like; setup never overwrites them). The webhook's signing secret is read
back through the API and compared with the environment variable that should hold it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from closedloop.daemon.runtime import Runtime
from closedloop.integration.zendesk import ZendeskAdapter

NO_EVENT_PROGRAM = '(none with trigger = "event")'
HUBSPOT_BODY = ('{"program": "<program>", "contact_id": "<Record ID>", "email": "<Email>", '
                '"event_id": "<something unique per event, e.g. the deal\'s Record ID>"}')


def secret_lines(adapter: ZendeskAdapter, webhook_id: str, env_name: str,
                 environ: Mapping[str, str] | None = None) -> list[str]:
    """Whether `env_name` holds the webhook's signing secret; if not, the line to set it."""
    secret = adapter.webhook_signing_secret(webhook_id)
    current = (os.environ if environ is None else environ).get(env_name, "")
    if hmac.compare_digest(current.encode(), secret.encode()):
        return [f"  {env_name} holds the webhook's signing secret"]
    return [f"  export {env_name}='{secret}'",
            "  (the webhook's signing secret, read back from Zendesk: put it in the daemon's "
            "environment, not in a shell history or a log)"]


def trigger_setup(rt: Runtime, zendesk_trigger: bool,
                  environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per step or outcome, for each route that takes survey triggers."""
    lines: list[str] = []
    base = str(rt.config.daemon.public_url).rstrip("/")
    for name, source in rt.config.sources.items():
        if not source.triggers:
            continue
        target = f"{base}/hooks/{name}"
        events = sorted(p.name for p in rt.programs.values()
                        if p.source == name and p.event_fed)
        if source.crm == "hubspot":
            lines += [
                f"sources.{name}: survey triggers from HubSpot workflows. In the workflow, add "
                "the action Data ops > Send a webhook:",
                f"  1. method POST, URL {target}",
                "  2. authentication: include request signature in header (your app's id); "
                f"export {source.webhook_secret_env} = the app's client secret",
                f"  3. request body, customised: {HUBSPOT_BODY}",
                f"  programs it may name: {', '.join(events) or NO_EVENT_PROGRAM}, or any "
                'ticket program of this source (with "ticket_id")',
            ]
            continue
        adapter = rt.adapters[name]
        if not zendesk_trigger or not isinstance(adapter, ZendeskAdapter):
            lines.append(f"sources.{name}: run `closedloop setup --zendesk-trigger` to create "
                         f"the webhook and a survey trigger per event program, calling {target}")
            continue
        if not events:
            lines.append(f"sources.{name}: no program with trigger = \"event\" reads this "
                         "source: no survey trigger to create")
            continue
        hook = ""
        for program in events:
            made = adapter.ensure_survey_trigger(program, target)
            hook = made.webhook_id
            lines.append(f"sources.{name}: trigger 'ClosedLoop: survey {program}' "
                         f"{'created' if made.trigger_created else 'already there'} (webhook "
                         f"{made.webhook_id}): a ticket solved with the tag "
                         f"closedloop_{program} asks for a {program} survey of its requester")
            if made.endpoint != target:
                lines.append(f"  note: the webhook calls {made.endpoint}, not {target}: edit "
                             "it in Admin Center")
        if not source.notifications:  # else notification_setup already said it
            lines += secret_lines(adapter, hook, source.webhook_secret_env, environ)
    if rt.config.triggers.generic:
        lines.append(f"triggers.generic: other systems POST to {base}/hooks/generic, signed "
                     "per Standard Webhooks with the whsec_ secret in "
                     f"{rt.config.triggers.generic_secret_env}")
    return lines
