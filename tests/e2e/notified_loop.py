"""The whole loop with CRM change notifications on: the sandbox CRM POSTs signed webhooks to
the daemon's real web app (HubSpot: a webhook subscription; Zendesk: the webhook and trigger
`closedloop setup --zendesk-trigger` creates through the API), the jobs run on a hand-moved
clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from e2e_loop import E2E_START, SECRET, Clock, Loop, free_port, loop_config, make_driver

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.notify_setup import TRIGGER_NAME
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.integration.zendesk import ZendeskAdapter

HUBSPOT_APP_SECRET = "hubspot-app-client-secret-e2e"


def notified_loop(tmp_path: Path, crm_name: str, *, notifications: bool = True,
                  **options: object) -> Iterator[Loop]:
    """A `Loop` whose source has `notifications` on and whose sandbox notifies the web app."""
    with time_machine.travel(E2E_START, tick=True):
        start = datetime.now(UTC).replace(microsecond=0)
        clock = Clock(start)
        with make_driver(crm_name, start) as crm, LocalMailSink(port=0) as sink:
            port = free_port()
            target = f"http://127.0.0.1:{port}/hooks/{crm.crm}"
            config = loop_config(tmp_path, crm, sink.port, port, start - timedelta(minutes=10),
                                 **options)  # type: ignore[arg-type]
            source = config.sources[crm.crm].model_copy(update={"notifications": notifications})
            config = config.model_copy(update={"sources": {crm.crm: source}})
            hook_secret = _subscribe(crm, target)
            secrets = Secrets(secret_key=SECRET, source_tokens={crm.crm: crm.secrets()},
                              source_hook_secrets={crm.crm: hook_secret} if notifications
                              else {})
            rt = build_runtime(config, secrets, clock=clock)
            rt.store.migrate()
            for name, mapping in rt.mappings.items():
                rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
                                                    mapping.specs())
            crm.reset_calls()
            web = BackgroundService(rt, port=port)
            web.start(jobs=False)
            try:
                yield Loop(crm, sink, rt, clock, config)
            finally:
                web.stop()
                rt.close()


def _subscribe(crm: object, target: str) -> str:
    """Point the sandbox's notifications at `target`; returns the signing secret."""
    sandbox = getattr(crm, "sandbox")
    if getattr(crm, "crm") == "hubspot":
        sandbox.webhooks.subscribe(target, HUBSPOT_APP_SECRET)
        return HUBSPOT_APP_SECRET
    # As an admin would: `closedloop setup --zendesk-trigger`, then the secret from Zendesk.
    with ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                        token=sandbox.token, base_url=sandbox.url) as adapter:
        made = adapter.ensure_solved_trigger(TRIGGER_NAME, target)
    secret: str = sandbox.automation.secrets[made.webhook_id]
    return secret


def flush(loop: Loop) -> None:
    """Wait until the sandbox has sent every notification it queued."""
    sandbox = getattr(loop.crm, "sandbox")
    notifier = sandbox.webhooks.notifier if loop.source == "hubspot" \
        else sandbox.automation.notifier
    assert notifier.flush(10), "the sandbox's notifications did not drain"


def drop_next(loop: Loop, n: int) -> None:
    """The CRM loses the next `n` notification requests."""
    sandbox = getattr(loop.crm, "sandbox")
    (sandbox.webhooks if loop.source == "hubspot" else sandbox.automation).drop_next(n)
