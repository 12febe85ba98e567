"""What `closedloop setup` says and does for CRM change notifications ([sources.X]
notifications = true): HubSpot's webhooks live in a developer app, so it prints the steps and
the target URL; Zendesk's webhook and trigger it creates with `--zendesk-trigger`, and reads
the webhook's signing secret back (daemon/triggers/setup.py says the same for triggers)."""

from __future__ import annotations

from closedloop.daemon.runtime import Runtime
from closedloop.daemon.triggers.setup import secret_lines
from closedloop.integration.zendesk import WEBHOOK_NAME, ZendeskAdapter

TRIGGER_NAME = "ClosedLoop: ticket solved"


def notification_setup(rt: Runtime, zendesk_trigger: bool) -> list[str]:
    """One line per step or outcome, for each source that receives notifications."""
    lines: list[str] = []
    base = str(rt.config.daemon.public_url).rstrip("/")
    for name, source in rt.config.sources.items():
        if not source.notifications:
            continue
        target = f"{base}/hooks/{name}"
        if source.crm == "hubspot":
            lines += [
                f"sources.{name}: HubSpot webhooks are set in your developer app, not by "
                "the token. In the app's Webhooks settings:",
                f"  1. target URL: {target}",
                "  2. subscribe to Ticket > Property changed > hs_pipeline_stage, activate it",
                f"  3. export {source.webhook_secret_env} = the app's client secret",
            ]
            continue
        adapter = rt.adapters[name]
        if not zendesk_trigger or not isinstance(adapter, ZendeskAdapter):
            lines.append(f"sources.{name}: run `closedloop setup --zendesk-trigger` to create "
                         f"the webhook and trigger that notify {target}")
            continue
        made = adapter.ensure_solved_trigger(TRIGGER_NAME, target)
        lines.append(
            f"sources.{name}: webhook {WEBHOOK_NAME!r} "
            f"{'created' if made.webhook_created else 'already there'} ({made.webhook_id}), "
            f"trigger {TRIGGER_NAME!r} {'created' if made.trigger_created else 'already there'}")
        lines += secret_lines(adapter, made.webhook_id, source.webhook_secret_env)
        if made.endpoint != target:
            lines.append(f"  note: the existing webhook calls {made.endpoint}, not {target}: "
                         "edit it in Admin Center")
    return lines
