"""What `closedloop demo` reports: its table's lines and the counts read back from the sandbox.

Every figure is read from where the loop left it (the store's counts, the sandbox CRM's
records, the local receiver), not from what the demo meant to do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide

if TYPE_CHECKING:
    from closedloop.daemon.demo import DemoCrm
    from closedloop.daemon.demo_receiver import DemoReceiver
    from closedloop.daemon.runtime import Runtime

# Each CRM's own words for what the daemon writes, and where the hooks land.
WORDS: dict[str, dict[str, str]] = {
    "hubspot": {"records": "contacts", "values": "contact properties",
                "notes": "notes on tickets (shown on their contacts too)",
                "follow_ups": "follow-up tasks"},
    "zendesk": {"records": "users", "values": "user fields",
                "notes": "private notes on tickets", "follow_ups": "follow-up tickets"},
}
WEBHOOK = "demo"  # the [[webhooks]] endpoint's name (its counts: webhooks.demo.*)


@dataclass
class DemoReport:
    """What happened, as the table and --json show it."""

    crm: str = "hubspot"
    tickets_closed: int = 0
    tickets_seen: int = 0
    surveys_sent: int = 0
    surveys_skipped: dict[str, int] = field(default_factory=dict)
    scanner_fetches: int = 0
    answers: int = 0
    comments: int = 0
    answers_recorded: int = 0
    record_kind: str = "contacts"  # HubSpot contacts, Zendesk users
    records_updated: int = 0
    value_kind: str = "contact properties"  # or Zendesk's user fields
    values_written: int = 0
    # The hooks (mappings [hooks]): ticket tags (Zendesk triggers use them) and notes. They
    # wait HOOK_SETTLE after the last click so the note carries the comment; the demo moves
    # its clock that far ahead instead of waiting (hook_clock_ahead_seconds).
    tickets_tagged: int = 0
    tags_added: dict[str, int] = field(default_factory=dict)
    notes_added: int = 0
    hook_clock_ahead_seconds: int = 0
    # Closing the loop: follow-ups read back from the sandbox (HubSpot tasks, Zendesk
    # follow-up tickets), alerts and webhooks as the store counts them delivered and as the
    # demo's receiver got them (every webhook checked with standardwebhooks).
    follow_up_kind: str = "follow-up tasks"  # or Zendesk's follow-up tickets
    follow_ups_created: int = 0
    alerts_delivered: int = 0
    slack_messages_received: int = 0
    webhooks_delivered: int = 0
    webhooks_verified: int = 0
    webhooks_rejected: int = 0
    webhook_events: dict[str, int] = field(default_factory=dict)
    setup_api_calls: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # The demo's own answers as a report: one line per program (insight.rates).
    summary: list[str] = field(default_factory=list)
    dashboard: dict[str, str] = field(default_factory=dict)  # url, user, password (once)
    # --channels: a survey the CRM's own automation asked for (daemon/triggers), answered.
    triggered_surveys: int = 0
    triggered_answers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self, label: str) -> list[tuple[str, object]]:
        """The text table's lines, in the CRM's own words (`label`: HubSpot or Zendesk)."""
        words = WORDS[self.crm]
        tags: list[tuple[str, object]] = (
            [("tickets tagged", self.tickets_tagged),
             *((f"  tag {tag}", n) for tag, n in self.tags_added.items())]
            if self.crm == "zendesk" else [("ticket tags (HubSpot tickets have none)", 0)])
        return [
            ("tickets closed", self.tickets_closed),
            ("tickets seen by the poller", self.tickets_seen),
            ("surveys sent", self.surveys_sent),
            *((f"surveys skipped: {k}", v) for k, v in self.surveys_skipped.items()),
            ("link fetches by 'mail scanners' (recorded nothing)", self.scanner_fetches),
            ("answers clicked", self.answers),
            ("answers recorded", self.answers_recorded),
            ("comments", self.comments),
            (f"{words['records']} updated in {label}", self.records_updated),
            (f"{words['values']} written", self.values_written),
            *tags,
            (words["notes"], self.notes_added),
            ("seconds the clock jumped for the hooks (instead of waiting)",
             self.hook_clock_ahead_seconds),
            (f"{words['follow_ups']} created in {label} (unhappy answers)",
             self.follow_ups_created),
            ("alerts delivered (Slack format)", self.alerts_delivered),
            ("  Slack messages at the local receiver", self.slack_messages_received),
            ("webhooks delivered", self.webhooks_delivered),
            ("  verified at the local receiver (standardwebhooks)", self.webhooks_verified),
            ("  refused by the receiver (bad signature)", self.webhooks_rejected),
            *((f"  event {kind}", n) for kind, n in self.webhook_events.items()),
            (f"{label} API calls for setup ({words['values']})", self.setup_api_calls),
            (f"{label} API calls for the loop", self.api_calls),
            *((f"  {k}", v) for k, v in self.api_calls_by_endpoint.items()),
            *([("surveys asked for by a webhook (workflow or trigger)", self.triggered_surveys),
               ("  answered", self.triggered_answers)] if self.triggered_surveys else []),
            ("seconds", self.seconds),
        ]


def count_actions(rt: Runtime, crm: DemoCrm, contact_ids: list[str], ticket_ids: list[str],
                   receiver: DemoReceiver, report: DemoReport) -> None:
    """Follow-ups as the sandbox holds them; alerts and webhooks as delivered and received."""
    if isinstance(crm, HubSpotSide):
        report.follow_ups_created = sum(len(crm.state.tasks(ticket_id=t)) for t in ticket_ids)
    elif isinstance(crm, ZendeskSide):
        customers = set(contact_ids)
        report.follow_ups_created = sum(
            1 for t in list(crm.state.tickets.values())
            if t.external_id and str(t.requester_id) in customers)
    counts = rt.store.counts()
    report.alerts_delivered = counts.get("alerts.delivered", 0)
    report.webhooks_delivered = counts.get(f"webhooks.{WEBHOOK}.delivered", 0)
    got = receiver.got
    with got.lock:
        report.slack_messages_received = got.slack_messages
        report.webhooks_verified = got.webhooks_verified
        report.webhooks_rejected = got.webhooks_rejected
        report.webhook_events = dict(sorted(got.webhook_events.items()))


def count_hooks(crm: DemoCrm, ticket_ids: list[str], report: DemoReport) -> None:
    """Read back from the sandbox what the hooks left on the tickets."""
    tags: dict[str, int] = {}
    if isinstance(crm, ZendeskSide):
        for ticket in ticket_ids:
            ours = [t for t in crm.state.ticket(ticket)["tags"] if t.startswith("closedloop_")]
            report.tickets_tagged += bool(ours)
            for tag in ours:
                tags[tag] = tags.get(tag, 0) + 1
            report.notes_added += sum(1 for c in crm.state.comments(ticket) if not c["public"])
    elif isinstance(crm, HubSpotSide):
        report.notes_added = sum(len(crm.state.notes(ticket_id=t)) for t in ticket_ids)
    report.tags_added = dict(sorted(tags.items()))


def fill_counts(rt: Runtime, crm: DemoCrm, contact_ids: list[str], report: DemoReport) -> None:
    counts = rt.store.counts()
    report.surveys_sent = counts.get("sends.sent", 0)
    report.surveys_skipped = {k.removeprefix("skipped."): v for k, v in counts.items()
                              if k.startswith("skipped.")}
    report.tickets_seen = report.surveys_sent + sum(report.surveys_skipped.values())
    report.answers_recorded = counts.get("responses", 0)
    names = set(rt.mappings[crm.name].property_names())
    written = [[k for k, v in crm.values(c).items() if k in names and v not in (None, "")]
               for c in contact_ids]
    report.records_updated = sum(1 for props in written if props)
    report.values_written = sum(len(props) for props in written)
    report.api_calls = crm.total_calls()
    report.api_calls_by_endpoint = dict(sorted(crm.calls_by_endpoint().items()))
