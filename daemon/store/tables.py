"""The state tables. Every durable fact (cursors, due times, answers) lives here, not in memory."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Cursor(Base):
    """Where a poller stopped reading a source; committed after each page's rows are stored."""

    __tablename__ = "cursors"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Send(Base):
    """The outbox: one survey to one person, due at `due_at`, never sent twice (idem_key)."""

    __tablename__ = "sends"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idem_key: Mapped[str] = mapped_column(String(255), unique=True)
    program: Mapped[str] = mapped_column(String(64))
    survey_type: Mapped[str] = mapped_column(String(8))  # csat, ces, nps
    source: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    email_norm: Mapped[str | None] = mapped_column(String(320))  # the person, across CRMs
    first_name: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(16))
    owner_id: Mapped[str | None] = mapped_column(String(64))  # agent at close time
    team_id: Mapped[str | None] = mapped_column(String(64))
    pipeline: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # pending -> claimed -> sending -> awaiting_reply -> sent | failed ; or skipped (with
    # skip_reason) ; or outcome_unknown (skip_reason says where it broke; counted as sent)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(255))
    # "survey", or "reminder" (of parent_id, whose token its links carry)
    kind: Mapped[str] = mapped_column(String(16), default="survey", server_default="survey")
    parent_id: Mapped[int | None] = mapped_column(Integer)
    reminder_no: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA, for quiet hours
    organization_id: Mapped[str | None] = mapped_column(String(64))
    # Custom segments ([reporting.segments]) captured when queued: name -> value
    segments: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    # How it reaches the person: "email", "sms", "web" (daemon/channels)
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164, for SMS
    # What queued it: NULL = the CRM poll or a list cadence; else "hubspot_workflow",
    # "zendesk_trigger", "generic", "manual", "csv", "widget"
    trigger: Mapped[str | None] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))  # "deal:123", "order:A-17"

    __table_args__ = (
        Index("ix_sends_status_due_at", "status", "due_at"),
        Index("ix_sends_source_contact", "source", "contact_id"),
        Index("ix_sends_email_norm_status", "email_norm", "status"),
        Index("ix_sends_parent_id", "parent_id"),
        Index("ix_sends_sent_at", "sent_at"),  # the report rollups' cursor
    )


class Response(Base):
    """A customer's answer to one send; a later click updates the same row.

    Its id leaves the system (export, webhooks), so SQLite must never hand out a deleted
    one again (AUTOINCREMENT; PostgreSQL identities never go back anyway).
    """

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_attributed_at", "attributed_at"),
        Index("ix_responses_answered_at", "answered_at"),  # latest comments
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Who held the ticket when the answer was written back (sends.owner_id: at close);
    # attributed_at NULL means not read yet (a NULL owner after it means nobody).
    owner_id_at_answer: Mapped[str | None] = mapped_column(String(64))
    team_id_at_answer: Mapped[str | None] = mapped_column(String(64))
    attributed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The rows of ix_writebacks_claim_contacts; the claim repeats these terms word for word
# (constants, not parameters), so both databases' planners can prove the index covers it.
UNHOOKED = "status = 'pending' AND kind <> 'hook'"


class WriteBack(Base):
    """A fact to write onto a CRM contact; the write-back job coalesces rows per contact.

    `data` holds semantic values (survey type, score, comment, category, dates), not CRM
    property names: the mapping turns them into properties at write time.
    """

    __tablename__ = "writebacks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(64))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "sent" or "answer"
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # pending -> done | rejected
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    written_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A writer's claim (see store/claims.py): rows of one contact are written by one replica
    # at a time, and only the holder of the token can settle them.
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_writebacks_status_source", "status", "source"),
        Index("ix_writebacks_source_contact", "source", "contact_id"),
        Index("ix_writebacks_send_id", "send_id"),  # the answer path's hook UPDATE
        Index("ix_writebacks_claim_token", "claim_token"),
        Index("ix_writebacks_claim_order", "source", "status", "contact_id", "created_at",
              "id"),
        Index("ix_writebacks_claimed", "source", "status", "claim_token"),
        # The claim while hooks wait their window (store/claims.py): the pending rows but
        # hooks, in claim order, so a claim never walks past the waiting hooks.
        Index("ix_writebacks_claim_contacts", "source", "status", "contact_id", "created_at",
              "id", sqlite_where=text(UNHOOKED), postgresql_where=text(UNHOOKED)),
        {"sqlite_autoincrement": True},
    )


class Suppression(Base):
    """An address that must never be mailed (unsubscribe, hard bounce), until `until` if set."""

    __tablename__ = "suppressions"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)  # normalized, lower-case
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Ledger(Base):
    """When a person (normalized e-mail) was last surveyed, per program and across all ("*").

    One ledger per person whatever the CRM, so a global cooldown holds across sources.
    """

    __tablename__ = "ledger"
    email_norm: Mapped[str] = mapped_column(String(320), primary_key=True)
    program: Mapped[str] = mapped_column(String(64), primary_key=True)  # "*" = any program
    last_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(64))


class Member(Base):
    """A contact an NPS program's selection held; first_seen_at decides the cycle they join."""

    __tablename__ = "members"
    program: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email_norm: Mapped[str | None] = mapped_column(String(320))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    customer_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SourceHealth(Base):
    """The last known health of one CRM source, shared by every replica and `status`.

    `paused`: the CRM refused the token (401/403); every job skips the source except one
    probe of the job that failed, at `next_check_at`. `failing`: transient errors, retried.
    """

    __tablename__ = "source_health"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # ok | failing | paused
    job: Mapped[str | None] = mapped_column(String(32))  # the job that failed
    error: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed probes in a row
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobLock(Base):
    """A leased lock per job and source (e.g. "poll:hubspot"): one replica runs it at a time.

    A killed holder frees it when `locked_until` passes. `done_at`/`done_by` record the last
    finished run, so a replica skips a run another one finished moments ago.
    """

    __tablename__ = "job_locks"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str | None] = mapped_column(String(64))


class LinkOpen(Base):
    """A score link fetched (GET or HEAD): replicas on one database share what they saw, so a
    scanner's burst spread over several web processes is still one burst (web/scanner.py).
    Holds no personal data; rows older than the burst window are pruned."""

    __tablename__ = "link_opens"
    __table_args__ = (Index("ix_link_opens_send_id_opened_at", "send_id", "opened_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    send_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertDelivery(Base):
    """One alert to deliver through its rule's channel (daemon/actions/alerts).

    `idem_key` makes an event queue once (rule + response, or rule + segment + breach time);
    `send_id` names the survey an alert quotes, so `forget` can drop it. Its id is the
    webhook-id of a generic webhook, so SQLite never hands out a deleted one again.
    """

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idem_key: Mapped[str] = mapped_column(String(255), unique=True)
    rule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # answer | breach | recovery | digest
    segment: Mapped[str | None] = mapped_column(String(255))
    send_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending -> delivered | dead ; held (a flood) -> digested (folded into a digest row)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_rule_created", "rule", "created_at"),
        Index("ix_alert_deliveries_send_id", "send_id"),
        {"sqlite_autoincrement": True},
    )


class Event(Base):
    """The events outbox: one row per change worth telling other tools about, written in the
    transaction that makes the change (so none is lost or invented across a crash).

    Its id is the public event id (`evt_<id>`, the webhook-id receivers dedupe on): never
    handed out twice (AUTOINCREMENT on SQLite). `routed_at` is set once the webhook job has
    queued one delivery per subscribed endpoint. `email_norm` is whom the payload quotes, so
    `forget` can blank it.
    """

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # survey.sent, response.created, ...
    program: Mapped[str | None] = mapped_column(String(64))
    send_id: Mapped[int | None] = mapped_column(Integer)
    email_norm: Mapped[str | None] = mapped_column(String(320))
    # SQL NULL (not JSON null) once forgotten, so `IS NULL` finds it
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_events_routed_at", "routed_at"),
        Index("ix_events_email_norm", "email_norm"),
        Index("ix_events_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )


class AlertState(Base):
    """Whether a rolling rule is in breach for one segment: it fires once per breach, and
    sends a recovery notice when the figure comes back."""

    __tablename__ = "alert_state"
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    segment: Mapped[str] = mapped_column(String(255), primary_key=True)
    breached: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[float | None] = mapped_column(Float)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One event to one `[[webhooks]]` endpoint: pending -> delivered | dead.

    Claimed with a token and a lease (like write-backs), so replicas never post it
    concurrently; `next_attempt_at` carries the backoff across restarts.
    """

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    endpoint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last try
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "endpoint", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )


class FollowUp(Base):
    """Follow-up work for one answer (a HubSpot task, a Zendesk follow-up ticket).

    One row per send: every change of the answer bumps `version`; the job writes the CRM
    until `written_version` catches up. `crm_id` is the task/ticket once created, so a
    re-score updates it instead of creating a second one; the row's id is in the CRM record
    as its external id (`cl-followup-<id>`), so a create whose answer was lost is found
    rather than repeated. Its id leaves the system, hence AUTOINCREMENT on SQLite.
    """

    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"), unique=True)
    source: Mapped[str] = mapped_column(String(64))
    program: Mapped[str] = mapped_column(String(64))
    # pending -> done | not_needed | rejected ; an answer change makes it pending again
    status: Mapped[str] = mapped_column(String(16), default="pending")
    version: Mapped[int] = mapped_column(Integer, default=1)
    written_version: Mapped[int] = mapped_column(Integer, default=0)
    crm_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_follow_ups_status_source", "status", "source"),
        {"sqlite_autoincrement": True},
    )


class HookEvent(Base):
    """An inbound notification's event id, seen once (daemon/web/hooks): the CRMs retry, and
    a retried event must not queue its tickets again. Rows expire (`expires_at`) and are
    pruned; a retry comes within hours, never after the expiry."""

    __tablename__ = "hook_events"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class NotifiedTicket(Base):
    """A ticket a CRM said changed, waiting for the intake job (daemon/jobs/notified.py).

    One row per source and ticket: a second notification before the intake ran adds
    nothing. Claimed with a token and a lease like write-backs; a failed read backs off
    (`next_at`) and after MAX attempts the row stays, `dead`, visible in `status`.
    """

    __tablename__ = "notified_tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | dead
    notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("source", "ticket_id", name="uq_notified_tickets_source_ticket"),
        Index("ix_notified_tickets_source_status_next", "source", "status", "next_at"),
    )


class ResponseTheme(Base):
    """A comment theme of one response (daemon/insight/themes), stored when computed so a
    report counts rows instead of reading every comment again. Deleted with its response
    (`closedloop forget`); a changed comment is assigned again by the refresh."""

    __tablename__ = "response_themes"
    response_id: Mapped[int] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    theme: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_response_themes_theme_response", "theme", "response_id"),)


# The themes refresh and the report rollups read responses changed since their cursors
# (updated_at, id): without this index every run of those jobs would scan all responses.
Index("ix_responses_updated_at_id", Response.updated_at, Response.id)


class ReportFact(Base):
    """What the report rollups counted for one survey (insight/rollups.py): its local send
    and answer days, score and segment values as they were counted, so a re-score, a late
    attribution or `forget` moves exactly those counts. `dims` is a JSON list in the order
    the rollups' fingerprint names (cursors: report/fingerprint)."""

    __tablename__ = "report_facts"
    send_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    program: Mapped[str] = mapped_column(String(64))
    survey_type: Mapped[str] = mapped_column(String(8))
    sent_day: Mapped[date | None] = mapped_column(Date)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_day: Mapped[date | None] = mapped_column(Date)
    score: Mapped[int | None] = mapped_column(Integer)
    rank: Mapped[int | None] = mapped_column(Integer)  # 0 low, 1 middle, 2 high category
    dims: Mapped[str] = mapped_column(Text)
    # The survey's columns this fact was computed from, as text (insight/rollups.py `seen`):
    # a refresh re-reads only the surveys in its margins whose columns differ. NULL (a
    # rebuild, `forget`): compared in full next time.
    seen: Mapped[str | None] = mapped_column(Text)


class ReportRollup(Base):
    """Counts per week or month (local, reporting zone), program, survey type and segment
    value ("" segment: every answer). `sent`/`answered` are by send day, the answer columns
    by answer day; s0..s10 count answers per score."""

    __tablename__ = "report_rollups"
    grain: Mapped[str] = mapped_column(String(8))  # week | month
    segment: Mapped[str] = mapped_column(String(64))
    period: Mapped[date] = mapped_column(Date)
    survey_type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(255))
    program: Mapped[str] = mapped_column(String(64))  # "" = summed across the type's programs
    sent: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    n: Mapped[int] = mapped_column(Integer, default=0)
    low: Mapped[int] = mapped_column(Integer, default=0)
    high: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    squares: Mapped[int] = mapped_column(Integer, default=0)
    s0: Mapped[int] = mapped_column(Integer, default=0)
    s1: Mapped[int] = mapped_column(Integer, default=0)
    s2: Mapped[int] = mapped_column(Integer, default=0)
    s3: Mapped[int] = mapped_column(Integer, default=0)
    s4: Mapped[int] = mapped_column(Integer, default=0)
    s5: Mapped[int] = mapped_column(Integer, default=0)
    s6: Mapped[int] = mapped_column(Integer, default=0)
    s7: Mapped[int] = mapped_column(Integer, default=0)
    s8: Mapped[int] = mapped_column(Integer, default=0)
    s9: Mapped[int] = mapped_column(Integer, default=0)
    s10: Mapped[int] = mapped_column(Integer, default=0)

    # Clustered on the key (SQLite): a report reads its rows with their counts, no lookup;
    # key order: one program's (or all programs', "") cells of a type are one range
    __table_args__ = (PrimaryKeyConstraint("grain", "segment", "program", "survey_type",
                                           "period", "value", name="pk_report_rollups"),
                      {"sqlite_with_rowid": False})


class ReportScope(Base):
    """Which surveys carry which value of a dashboard scope level (`[reporting] scope`), so a
    scoped report that the rollups cannot answer reads only the viewer's surveys."""

    __tablename__ = "report_scopes"
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    send_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)

    __table_args__ = (Index("ix_report_scopes_send_id", "send_id"),)


class AdminUser(Base):
    """A dashboard user added with `closedloop users add` (config `[[users]]` live in the
    config). `scope` is a JSON object segment level -> allowed values ({} = headquarters)."""

    __tablename__ = "admin_users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AdminSession(Base):
    """A signed-in dashboard session; the cookie carries the id, the row is the truth, so
    logout or removing the user revokes it. Only the id's SHA-256 is stored."""

    __tablename__ = "admin_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AdminLoginFailure(Base):
    """One failed sign-in, keyed "user:NAME" or "ip:ADDRESS", for the lock-out."""

    __tablename__ = "admin_login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_admin_login_failures_key_failed_at", "key", "failed_at"),)


class ThemeFact(Base):
    """What the theme rollups counted for one commented answer (insight/themes/rollups.py):
    its local day, program, type, unhappy or not, themes and scope keys, so an edit, a
    re-score or `forget` moves exactly those counts. `themes`/`scopes` are JSON lists."""

    __tablename__ = "theme_facts"
    response_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    send_id: Mapped[int] = mapped_column(Integer, index=True)
    day: Mapped[date] = mapped_column(Date)
    program: Mapped[str] = mapped_column(String(64))
    survey_type: Mapped[str] = mapped_column(String(8))
    low: Mapped[bool] = mapped_column(Boolean, default=False)
    themes: Mapped[str] = mapped_column(Text, default="[]")
    scopes: Mapped[str] = mapped_column(Text, default="[]")


class ThemeRollup(Base):
    """Commented answers per week or month (local, reporting zone), scope key ("" everyone,
    "store=oslo"...), survey type, program and theme ("" theme: every commented answer, the
    base of shares); `low`: of those, the unhappy ones."""

    __tablename__ = "theme_rollups"
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    survey_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    program: Mapped[str] = mapped_column(String(64), primary_key=True)
    theme: Mapped[str] = mapped_column(String(64), primary_key=True)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    low: Mapped[int] = mapped_column(Integer, default=0)


class SmsMessage(Base):
    """One SMS survey's own facts: its short link's code, Twilio's SID, the segments it
    cost, and the latest delivery status Twilio's status callback reported."""

    __tablename__ = "sms_messages"
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # /s/<code>, random
    sid: Mapped[str | None] = mapped_column(String(64), index=True)  # Twilio's "SM..."
    phone: Mapped[str] = mapped_column(String(32), index=True)  # E.164
    segments: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(8))  # "GSM-7" | "UCS-2"
    delivery_status: Mapped[str | None] = mapped_column(String(16))  # queued .. delivered
    error_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsReply(Base):
    """An inbound text, kept once per Twilio MessageSid (Twilio retries its webhooks)."""

    __tablename__ = "sms_replies"
    __table_args__ = ({"sqlite_autoincrement": True},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(32))
    send_id: Mapped[int | None] = mapped_column(Integer)  # the survey it answered, if any
    outcome: Mapped[str] = mapped_column(String(16))  # score, stop, start, unparsed, ...
    body: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WidgetDismissal(Base):
    """"Not now" in the web widget (daemon/web/widget): no card for this person on this site
    until `until`. Per site, so one app's dismissal does not silence another's."""

    __tablename__ = "widget_dismissals"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    email_norm: Mapped[str] = mapped_column(String(320), primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
