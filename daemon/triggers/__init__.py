"""Survey triggers: an event anywhere (a HubSpot workflow, a Zendesk trigger, any system's
webhook, `closedloop send`, a CSV row) asks for one survey of one person for one program.

This room owns turning such a request into ONE outbox row, through the same row shape,
skip reasons, segment capture and idempotency as polled tickets (daemon/jobs/poll), so the
rules, the fatigue ledger, suppressions, `plan` and `status` treat it like any survey.
Who calls it: daemon/web/hooks (signed inbound webhooks) and the `send` CLI.

API::

    from closedloop.daemon.triggers import Person, Trigger, queue_trigger

    outcome = queue_trigger(store, adapters, programs, Trigger(
        program="onboarding",                      # a configured program's name
        person=Person(contact_id="901", email=None, name="Ada Lovelace",
                      language="en", timezone="Europe/London", phone=None,
                      segments={"region": "emea"}),  # [reporting.segments] names only
        kind="hubspot_workflow",                   # or zendesk_trigger, generic, manual, csv
        ticket_id=None, reference="deal:123",      # what it is about (both optional)
        event_id="wf-77-enrol-5", occurred_at=None), now,
        reporting=config.reporting, dry_run=False)
    outcome.key, outcome.status, outcome.reason, outcome.send_id   # status: queued |
    # skipped (reason: no_email, expired, sampled_out, stored like the poll's) | duplicate

- Program: `find_program` raises UnknownProgram naming the configured programs. A program
  with `trigger = "event"` is fed by triggers only (the ticket poll and notifications skip
  it); a ticket-fed program may be triggered too, and given a ticket it takes the poll's
  key, so the poll and the trigger make one survey together.
- Person (people.py): the store's newest survey row of that contact id or e-mail on the
  program's source, else one CRM read (`contacts([id])`, or `find_contacts_by_email`);
  unknown to both → UnknownPerson. The trigger's name / language / zone / phone override.
- Key (`trigger_key`): the poll's for a ticket of a ticket-fed program; else
  `<program>:<source>:<kind>:<event id>`, so a retried event queues nothing; without an
  event id `<program>:<source>:<kind>:<contact id>:<about>:<UTC date>`. A known key is
  answered "duplicate" before any CRM read.
- Time: `occurred_at` (never later than now) is the row's `closed_at`: the delay, the
  expiry and coalescing count from it, as they count from a ticket's close.
- `dry_run=True` (`closedloop send --plan`) resolves and decides the same, writes nothing.
- `source="hubspot"`: the program must read that source (a CRM's own webhook route).
- Many at once (a CSV): `queue_triggers(store, adapters, programs, triggers, now, ...)` reads
  the people the store does not know in batches first (100 contacts a call; by e-mail:
  HubSpot 100 a call, Zendesk one user search each) and returns, in order, a Queued or the
  TriggerError of each trigger (a bad row does not stop the others).
- In the daemon: `Runtime.trigger(trigger, dry_run=..., source=...)` and
  `Runtime.trigger_many(triggers, dry_run=...)` bind the store, adapters, programs,
  reporting settings and clock.
- Errors: TriggerError (`code`: unknown_program, unknown_person, bad_trigger) for the
  request's fault; CRM failures (integration.errors) pass through.
"""

from closedloop.daemon.triggers.errors import (
    BadTrigger,
    TriggerError,
    UnknownPerson,
    UnknownProgram,
)
from closedloop.daemon.triggers.intake import (
    TRIGGER_KINDS,
    Queued,
    Trigger,
    TriggerKind,
    find_program,
    queue_trigger,
    queue_triggers,
    trigger_key,
)
from closedloop.daemon.triggers.people import Person

__all__ = [
    "TRIGGER_KINDS",
    "BadTrigger",
    "Person",
    "Queued",
    "Trigger",
    "TriggerError",
    "TriggerKind",
    "UnknownPerson",
    "UnknownProgram",
    "find_program",
    "queue_trigger",
    "queue_triggers",
    "trigger_key",
]
