"""The one protocol every CRM adapter implements, and the records it trades.

Jobs and rules only see these types; an adapter owns its SDK client and never
imports the store or the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Ticket:
    """A closed ticket, as the poll job needs it: who asked, who answered, when it closed."""

    id: str
    closed_at: datetime  # timezone-aware UTC
    subject: str = ""
    pipeline: str | None = None
    stage: str | None = None
    owner_id: str | None = None  # the agent the ticket was assigned to at close time
    team_id: str | None = None  # HubSpot: the owner's team; Zendesk: the ticket's group
    contact_ids: tuple[str, ...] = ()  # requester(s), first is the primary one
    organization_id: str | None = None  # Zendesk: the ticket's organization (a segment)
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    """The extra properties the adapter was asked to read (reporting segments), by the
    CRM's name for them (HubSpot: property name; Zendesk: custom field id, or a standard
    field such as "priority"), as text; empty or missing values are left out."""


@dataclass(frozen=True)
class Contact:
    """A person a survey can be sent to."""

    id: str
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None  # e.g. "en", "fr", "nb"; None when the CRM does not know
    timezone: str | None = None  # an IANA name ("Europe/Oslo"); None when unknown or unmappable
    organization_id: str | None = None
    customer_since: datetime | None = None  # when the person became a customer (NPS eligibility)
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    """The extra properties the adapter was asked to read (reporting segments), by the
    CRM's name for them (HubSpot: property name; Zendesk: user field key), as text;
    empty or missing values are left out."""
    phone: str | None = None  # as the CRM keeps it (HubSpot mobilephone/phone, Zendesk phone)


@dataclass(frozen=True)
class TicketPage:
    """One page of closed tickets and the cursor to persist once its rows are stored."""

    tickets: list[Ticket]
    cursor: str


@dataclass(frozen=True)
class ContactUpdate:
    """Property values to write on one contact (values already formatted for the CRM)."""

    contact_id: str
    properties: Mapping[str, str]


@dataclass
class WriteResult:
    """Which contacts were written, and why the others were not."""

    written: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # contact id -> reason


@dataclass(frozen=True)
class TicketUpdate:
    """A workflow hook on the ticket a survey was about: tags to add and/or a private note.

    Zendesk triggers run on ticket changes, not on user-field writes, so this is how an
    answer reaches them. Adapters that cannot tag (HubSpot) ignore `add_tags`.
    """

    ticket_id: str
    add_tags: tuple[str, ...] = ()
    note: str | None = None  # an internal (never public) note with the answer
    key: str | None = None
    """A marker unique to the rows behind this note: an adapter puts it in the note, so it
    can find a note whose create answer was lost instead of creating it again."""
    check_first: bool = False
    """An earlier attempt may have created the note: look for `key` before creating."""
    properties: Mapping[str, str] = field(default_factory=dict)
    """Ticket property values (HubSpot: score, category, comment, answer date per program
    prefix, so ticket workflows can branch on feedback). Set values, never append: writing
    them twice is harmless. Zendesk has no ticket fields in this design: always empty."""
    contact_ids: tuple[str, ...] = ()
    """The contacts whose answers the note carries (the surveyed ones): HubSpot links the
    note to them instead of reading the ticket's contacts (one associations read less per
    hook run). Empty: the adapter links the ticket's primary contact, as before."""


@dataclass(frozen=True)
class Attribution:
    """Who held a ticket at one instant: its owner/assignee and team/group (None: nobody)."""

    owner_id: str | None = None  # HubSpot: hubspot_owner_id; Zendesk: assignee_id
    team_id: str | None = None  # HubSpot: hubspot_team_id; Zendesk: group_id
    closed: bool | None = None  # Zendesk: status "closed" (a follow-up can link it); None: not read


@dataclass(frozen=True)
class FollowUp:
    """Follow-up work for one answer: a task (HubSpot) or a follow-up ticket (Zendesk).

    `key` is unique to the answer and goes into the CRM record (HubSpot: a marker in the
    task subject; Zendesk: the ticket's external_id), so a create whose answer was lost is
    found instead of repeated. With `crm_id` set (or found by `key`), the adapter adds
    `update_text` to the existing record instead of creating one.
    """

    key: str
    contact_id: str
    ticket_id: str | None
    subject: str
    body: str  # plain text; the adapter escapes it for its CRM
    due_at: datetime | None = None
    crm_id: str | None = None
    update_text: str | None = None
    check_first: bool = False  # an earlier attempt may have created it: look `key` up first
    owner_id: str | None = None  # configured owner / agent, used when the CRM gives none
    group_id: str | None = None  # configured group (Zendesk)
    use_configured: bool = False  # assign to owner_id/group_id even when the ticket has one
    tags: tuple[str, ...] = ()
    public: bool = False  # Zendesk: a public first comment notifies the customer
    # Who held the ticket at rating time, as the store has it (Store.record_attribution), so
    # the adapter need not read the ticket again; None: not known, the adapter reads it.
    at_rating: Attribution | None = None


@dataclass
class FollowUpResult:
    """What became of each follow-up, by key."""

    created: dict[str, str] = field(default_factory=dict)  # key -> CRM id (or found)
    updated: dict[str, str] = field(default_factory=dict)  # key -> CRM id
    rejected: dict[str, str] = field(default_factory=dict)  # key -> reason


HOOK_MARKER = "[cl-hook-"  # how every note / private comment a hook adds is marked


@dataclass(frozen=True)
class Erasure:
    """What quotes a forgotten person on one survey's ticket, to remove from the CRM.

    `key` names the erasure in the WriteResult. The adapter removes ClosedLoop's hook notes
    on `ticket_id` (HubSpot: archives the notes carrying a ``[cl-hook-`` marker; Zendesk:
    redacts the private comments carrying it), blanks `ticket_properties` there, and empties
    the text of the follow-up records `follow_up_ids` (HubSpot task subject and body;
    Zendesk: every comment of the follow-up ticket redacted). Each step is idempotent: a
    retry, or a second forget, finds nothing left to remove.
    """

    key: str
    ticket_id: str | None = None
    follow_up_ids: tuple[str, ...] = ()
    ticket_properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberSelection:
    """Who an NPS program surveys: exactly one of these is set.

    HubSpot: `list_id` (lists v3 memberships). Zendesk: `organization_id`, `tag` or `query`
    (a user search such as "role:end-user tags:vip").
    """

    list_id: str | None = None
    organization_id: str | None = None
    tag: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class PropertySpec:
    """A CRM property/field the mapping wants to exist, as `closedloop setup` creates it."""

    name: str
    label: str
    type: str  # HubSpot: number, string, date, datetime, enumeration
    field_type: str  # HubSpot: number, text, textarea, date, select
    description: str = ""
    options: tuple[str, ...] = ()  # enumeration values
    object_type: str = "contacts"  # HubSpot: "contacts" or "tickets"; Zendesk: user fields


@dataclass(frozen=True)
class OnlineCheck:
    """What `closedloop check --online` learned about a source."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    missing_properties: list[str] = field(default_factory=list)
    missing_ticket_properties: list[str] = field(default_factory=list)


class CRMAdapter(Protocol):
    """What every CRM adapter offers the jobs. Methods raise only integration.errors types."""

    name: str  # the source's name in config, e.g. "hubspot"
    write_batch_size: int
    """The most updates one write_contacts/update_tickets call should be given: as many as
    the adapter can settle together (HubSpot: one batch call, 100; Zendesk: 30 update_many
    jobs of 100, followed with one status poll per round).

    Within that size a write call ends in one of four ways: a WriteResult naming every
    record; RecordRejected, meaning the CRM refused the call whole and nothing of it was
    written (the caller splits it to find the bad record); PartialWrite, naming what landed,
    what was refused and what is still unknown; or another error, meaning nothing of it is
    known to have landed (retry it all). A bigger call gets no such promise.
    """

    def closed_tickets(self, cursor: str | None,
                       contacts: bool = True) -> Iterator[TicketPage]:
        """Yield pages of tickets closed since `cursor` (None: from the configured start).
        `contacts=False`: contact_ids may be left empty when reading them costs calls (the
        safety-net poll hands its finds to the intake, which reads them)."""
        ...

    def contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Read contacts by id, in batches; ids the CRM does not know are left out."""
        ...

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        """Write property values onto contacts, in batches (see `write_batch_size`)."""
        ...

    def update_tickets(self, updates: Sequence[TicketUpdate]) -> WriteResult:
        """Apply workflow hooks to tickets, in batches; ids in the result are ticket ids.

        A hook may add a note, which a retry would add again: when part of a call landed
        and the rest failed, the adapter raises PartialWrite, never a plain TransientError
        that makes the caller send it all again."""
        ...

    def ticket_attribution(self, ticket_ids: Sequence[str]) -> dict[str, Attribution]:
        """Each ticket's owner/assignee and team/group now, 100 tickets per call.

        The write-back asks this when an answer is first written, so reports can credit
        the agent who held the ticket at rating time as well as the one at close. Tickets
        the CRM does not return (deleted, unknown) are left out.
        """
        ...

    def write_follow_ups(self, items: Sequence[FollowUp]) -> FollowUpResult:
        """Create (or add to) follow-up work, 100 a call. Raises TransientError/RateLimited
        when the call's outcome is unknown (the caller retries with check_first)."""
        ...

    def start_follow_ups(self, items: Sequence[FollowUp]) -> Callable[[], FollowUpResult]:
        """write_follow_ups in two steps: what can be sent ahead is sent now, the returned
        call ends it and gives the result (errors as for write_follow_ups, from either).
        Zendesk submits its create_many jobs here, so the job polls of the calls made in
        between (the contact write) read them too; HubSpot writes everything in the call."""
        ...

    def erase_quotes(self, items: Sequence[Erasure]) -> WriteResult:
        """Remove what quotes a forgotten person (see Erasure); ids in the result are keys.
        A ticket or follow-up deleted since counts as erased. Errors as for writes."""
        ...

    def reopened(self, ticket_ids: Sequence[str]) -> set[str]:
        """Of these tickets, the ones no longer closed (reopened or deleted), read in batches.

        Dispatch asks this right before sending, so a reopened ticket cancels its survey.
        """
        ...

    def members(self, selection: MemberSelection) -> Iterator[list[Contact]]:
        """Yield pages of the contacts an NPS program's selection holds now."""
        ...

    def ensure_properties(self, group: str, group_label: str,
                          specs: Sequence[PropertySpec]) -> list[str]:
        """Create the group and the properties that do not exist yet; return the created names."""
        ...

    def check_online(self, required_scopes: Sequence[str], property_names: Sequence[str],
                     ticket_property_names: Sequence[str] = ()) -> OnlineCheck:
        """Check the token, its scopes and that the mapped (contact and ticket) properties
        exist."""
        ...

    def undefined_properties(self, ticket_names: Sequence[str],
                             contact_names: Sequence[str]) -> dict[str, list[str]]:
        """Of these ticket and contact properties (reporting segments), the ones the CRM
        does not define, by object ("ticket", "contact"); one definitions read per object
        asked about. A segment on an undefined property captures nothing."""
        ...

    def call_count(self) -> int:
        """CRM API calls this adapter has made since it was created."""
        ...


class NotifiedTicketReader(Protocol):
    """What the intake of CRM change notifications needs (daemon/jobs/notified.py): both
    adapters offer it, apart from CRMAdapter so test doubles of the jobs need not."""

    name: str

    def closed_tickets_by_id(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        """Of these tickets, the ones closed now, read in batches of 100 and built exactly
        as `closed_tickets` builds them (contacts included); others are left out."""
        ...
