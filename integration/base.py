"""The one protocol every CRM adapter implements, and the records it trades.

Jobs and rules only see these types; an adapter owns its SDK client and never
imports the store or the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
    team_id: str | None = None
    contact_ids: tuple[str, ...] = ()  # requester(s), first is the primary one


@dataclass(frozen=True)
class Contact:
    """A person a survey can be sent to."""

    id: str
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None  # e.g. "en", "fr", "nb"; None when the CRM does not know
    timezone: str | None = None


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
class PropertySpec:
    """A CRM property/field the mapping wants to exist, as `closedloop setup` creates it."""

    name: str
    label: str
    type: str  # HubSpot: number, string, date, datetime, enumeration
    field_type: str  # HubSpot: number, text, textarea, date, select
    description: str = ""
    options: tuple[str, ...] = ()  # enumeration values


@dataclass(frozen=True)
class OnlineCheck:
    """What `closedloop check --online` learned about a source."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    missing_properties: list[str] = field(default_factory=list)


class CRMAdapter(Protocol):
    """What every CRM adapter offers the jobs. Methods raise only integration.errors types."""

    name: str  # the source's name in config, e.g. "hubspot"

    def closed_tickets(self, cursor: str | None) -> Iterator[TicketPage]:
        """Yield pages of tickets closed since `cursor` (None: from the configured start)."""
        ...

    def contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Read contacts by id, in batches; ids the CRM does not know are left out."""
        ...

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        """Write property values onto contacts, in batches."""
        ...

    def ensure_properties(self, group: str, group_label: str,
                          specs: Sequence[PropertySpec]) -> list[str]:
        """Create the group and the properties that do not exist yet; return the created names."""
        ...

    def check_online(self, required_scopes: Sequence[str],
                     property_names: Sequence[str]) -> OnlineCheck:
        """Check the token, its scopes and that the mapped properties exist."""
        ...

    def call_count(self) -> int:
        """CRM API calls this adapter has made since it was created."""
        ...
