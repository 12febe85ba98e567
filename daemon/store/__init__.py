"""The state store: SQLite (WAL) by default, PostgreSQL for several replicas.

Every durable fact lives here: cursors, due sends, answers, pending CRM writes. Each public
method is one short transaction, so a kill -9 at any instant leaves a consistent state, and
all times in and out are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from closedloop.daemon.store.alerts import AlertRow, AlertsMixin, AnswerRow
from closedloop.daemon.store.answers import AnswersMixin
from closedloop.daemon.store.attribution import AttributionMixin
from closedloop.daemon.store.backlogs import Backlog, BacklogsMixin, Upcoming
from closedloop.daemon.store.claims import ClaimsMixin, WriteBackClaim
from closedloop.daemon.store.engine import (
    NewerDatabase,
    make_engine,
    parse_url,
    reading,
    upgrade_to_head,
)
from closedloop.daemon.store.events import EVENT_KINDS, emit_event, event_id, parse_event_id
from closedloop.daemon.store.follow_ups import FollowUpClaim, FollowUpsMixin, FollowUpWork
from closedloop.daemon.store.health import HealthMixin, QueueStat, SourceState
from closedloop.daemon.store.ledger import LedgerMixin
from closedloop.daemon.store.link_opens import LinkOpensMixin
from closedloop.daemon.store.members import MemberRecord, MembersMixin, SeenMember
from closedloop.daemon.store.not_now import NotNow, NotNowMixin
from closedloop.daemon.store.notified import NotifiedClaim, NotifiedMixin
from closedloop.daemon.store.outcomes import OutcomesMixin
from closedloop.daemon.store.people import PeopleMixin
from closedloop.daemon.store.preferences import Preference, PreferencesMixin
from closedloop.daemon.store.privacy import ExportRow, ForgetResult, PrivacyMixin
from closedloop.daemon.store.records import (
    AttributedResponse,
    NewSend,
    NoResponseYet,
    ResponseRecord,
    SendRecord,
    UnknownSend,
    WriteBackRecord,
)
from closedloop.daemon.store.sends import (
    CONNECTION_LOST,
    INTERRUPTED,
    OUTCOME_UNKNOWN,
    SendsMixin,
    normalize_email,
)
from closedloop.daemon.store.settle import SentMark, SettleMixin
from closedloop.daemon.store.sms import sms_counts
from closedloop.daemon.store.wakes import WriteCounter
from closedloop.daemon.store.webhooks import Delivery, Route, WebhooksMixin
from closedloop.daemon.store.widget import KnownContact, WidgetMixin

__all__ = [
    "CONNECTION_LOST",
    "EVENT_KINDS",
    "INTERRUPTED",
    "OUTCOME_UNKNOWN",
    "AlertRow",
    "AnswerRow",
    "AttributedResponse",
    "Backlog",
    "Delivery",
    "ExportRow",
    "FollowUpClaim",
    "FollowUpWork",
    "ForgetResult",
    "KnownContact",
    "MemberRecord",
    "NewSend",
    "NewerDatabase",
    "NoResponseYet",
    "NotNow",
    "NotifiedClaim",
    "Preference",
    "QueueStat",
    "ResponseRecord",
    "Route",
    "SeenMember",
    "SendRecord",
    "SentMark",
    "SourceState",
    "Store",
    "UnknownSend",
    "Upcoming",
    "WriteBackClaim",
    "WriteBackRecord",
    "emit_event",
    "event_id",
    "normalize_email",
    "parse_event_id",
    "parse_url",
]


class Store(SendsMixin, SettleMixin, OutcomesMixin, AnswersMixin, AttributionMixin, ClaimsMixin,
            PreferencesMixin, MembersMixin, LedgerMixin, PrivacyMixin, HealthMixin,
            LinkOpensMixin, AlertsMixin, WebhooksMixin, FollowUpsMixin, NotifiedMixin,
            WidgetMixin, PeopleMixin, BacklogsMixin, NotNowMixin):
    """The daemon's database. ``Store(url).migrate()`` once at start, then call methods."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)
        self.writes = WriteCounter(self.engine)  # what the jobs' wake gates watch
        # Closers of connections held outside the pool (web/answering.py's readers):
        # dispose() closes those too.
        self.held_closers: list[Callable[[], object]] = []

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision; safe to call on every start."""
        upgrade_to_head(self.engine)

    def dispose(self) -> None:
        """Close pooled connections and those held outside the pool (at shutdown, or
        before a fork)."""
        for close in self.held_closers:
            close()
        self.engine.dispose()

    def counts(self, now: datetime | None = None) -> dict[str, int]:
        """Row counts by state, for `closedloop status`, metrics and run summaries; with the
        addresses suppressed at `now` (default: the wall clock) per reason."""
        now = now or datetime.now(UTC)
        with reading(self.engine) as conn:
            result = self.send_counts(conn)
            result.update(self.answer_counts(conn))
            result.update(self.writeback_held_counts(conn, now))
            result.update(self.rule_counts(conn))
            result.update(self.follow_up_counts(conn))
            result.update(self.suppression_counts(conn, now))
            result.update(self.alert_counts(conn))
            result.update(self.delivery_counts(conn))
            result.update(self.notified_counts(conn, now))
            result.update(sms_counts(conn))
            result.update(self.widget_counts(conn, now))
            result.update(self.trigger_counts(conn))
        return result
