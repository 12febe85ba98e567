"""HubSpotAdapter: the CRMAdapter protocol over hubspot-api-client 12.

The calls themselves (the SDK's API objects built once, no urllib3 retry, the one tenacity
policy, the pacer, the counters) live in _client.HubSpotCalls, which this class extends;
the work of each method lives in a small module (_tickets, _contacts, _reopened, _notes,
_members, _properties); this class owns what the jobs ask and the caches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from closedloop.integration.base import (
    Attribution,
    Contact,
    ContactUpdate,
    CRMAdapter,
    Erasure,
    FollowUp,
    FollowUpResult,
    MemberSelection,
    OnlineCheck,
    PropertySpec,
    Ticket,
    TicketPage,
    TicketUpdate,
    WriteResult,
)
from closedloop.integration.errors import (
    ConfigError,
)
from closedloop.integration.hubspot import _properties
from closedloop.integration.hubspot._client import HubSpotCalls
from closedloop.integration.hubspot._contact_writes import write_contact_batches
from closedloop.integration.hubspot._contacts import (
    BATCH_SIZE,
    read_contacts,
    read_contacts_by_email,
    with_extra,
)
from closedloop.integration.hubspot._cursor import SearchCursor
from closedloop.integration.hubspot._erase import erase_quotes
from closedloop.integration.hubspot._members import list_id_of, member_pages
from closedloop.integration.hubspot._notes import add_ticket_notes, landed_markers
from closedloop.integration.hubspot._notified import closed_tickets_by_id
from closedloop.integration.hubspot._online import LISTS_SCOPE, check_online
from closedloop.integration.hubspot._reopened import (
    STAGE_PROPERTIES,
    Stage,
    not_closed,
    stage_of,
    ticket_props,
    ticket_stages,
    unknown_stages,
)
from closedloop.integration.hubspot._tasks import landed_tasks, rating_time_owners, write_tasks
from closedloop.integration.hubspot._ticket_fields import (
    ATTRIBUTION_PROPERTIES,
    properties_then_notes,
    read_attribution,
)
from closedloop.integration.hubspot._tickets import (
    TICKET_PROPERTIES,
    closed_ticket_pages,
    ticket_contacts,
    to_ms,
)
from closedloop.integration.pacing import Pacer
from closedloop.integration.retry import RetryPolicy

log = structlog.get_logger(__name__)

BASE_SCOPES: tuple[str, ...] = (
    "tickets",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
)



class HubSpotAdapter(HubSpotCalls):
    """One HubSpot account (portal), as the jobs see it."""

    required_scopes: tuple[str, ...] = BASE_SCOPES
    """The token's scopes this adapter needs; + crm.lists.read when `lists` are given."""

    write_batch_size: int = BATCH_SIZE
    """One batch call per write (contacts batch update, notes batch create: 100 each), so a
    failed call wrote nothing and the caller's retry adds no note twice."""

    @staticmethod
    def scopes_for(*, lists: bool = False) -> tuple[str, ...]:
        """The scopes a HubSpot source needs; `lists` when an NPS program reads a list."""
        return (*BASE_SCOPES, LISTS_SCOPE) if lists else BASE_SCOPES

    def __init__(self, name: str, token: str, base_url: str = "https://api.hubapi.com", *,
                 start_at: datetime | None = None, overlap: timedelta = timedelta(minutes=5),
                 page_size: int = 200, timeout: tuple[float, float] = (5, 30),
                 retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
                 pipelines: Sequence[str] = (), lists: Sequence[str] = (),
                 ticket_properties: Sequence[str] = (),
                 contact_properties: Sequence[str] = (),
                 pacer: Pacer | None = None) -> None:
        """`lists`: the contact list ids NPS programs select (check_online checks they
        exist, and the token then needs crm.lists.read). `ticket_properties` and
        `contact_properties`: more properties to read (reporting segments), asked for in
        the ticket search and the contacts batch read they already make, returned in
        Ticket.properties / Contact.properties. `pacer`: the source's rate windows
        (_pacing.hubspot_pacer), which every request of every API object asks first; None
        sends at once (the daemon always gives one)."""
        super().__init__(name, token, base_url, timeout=timeout, retry=retry, pacer=pacer)
        self._start_at = start_at
        self._overlap_ms = int(overlap.total_seconds() * 1000)
        self._page_size = page_size
        self._pipelines = tuple(pipelines)
        self._lists = tuple(dict.fromkeys(str(i) for i in lists))
        self._ticket_extra = tuple(dict.fromkeys(ticket_properties))
        self._contact_extra = tuple(dict.fromkeys(contact_properties))
        self.required_scopes = self.scopes_for(lists=bool(self._lists))
        self._stage_states: dict[Stage, str] | None = None

    def __repr__(self) -> str:  # never show the token
        return f"HubSpotAdapter(name={self.name!r}, base_url={self._base_url!r})"

    # -- closed tickets ---------------------------------------------------------------------

    def _stages(self, *, refresh: bool = False) -> dict[Stage, str]:
        """ticketState of every (pipeline, stage) of the portal, read once (or on refresh)."""
        if self._stage_states is None or refresh:
            answer = self._call("pipelines", self._pipelines_api.get_all, object_type="tickets")
            self._stage_states = {
                (str(pipeline.id), str(stage.id)): str((stage.metadata or {}).get("ticketState"))
                for pipeline in answer.results or []
                for stage in pipeline.stages or []
            }
        return self._stage_states

    def _closed_stage_ids(self) -> list[str]:
        """Stage ids whose ticketState is CLOSED (in the configured pipelines)."""
        stages = list(dict.fromkeys(
            stage for (pipeline, stage), state in self._stages().items()
            if state == "CLOSED" and (not self._pipelines or pipeline in self._pipelines)))
        if not stages:
            raise ConfigError([f"{self.name}: no CLOSED ticket stage in pipelines "
                               f"{list(self._pipelines) or 'any'}"])
        return stages

    def _search(self, from_ms: int, after: str | None) -> Any:
        filters: list[dict[str, Any]] = [
            {"propertyName": "closed_date", "operator": "GTE", "value": str(from_ms)},
            {"propertyName": "hs_pipeline_stage", "operator": "IN",
             "values": self._closed_stage_ids()},
        ]
        if self._pipelines:
            filters.append({"propertyName": "hs_pipeline", "operator": "IN",
                            "values": list(self._pipelines)})
        request: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "closed_date", "direction": "ASCENDING"}],
            "properties": with_extra(TICKET_PROPERTIES, self._ticket_extra),
            "limit": self._page_size}
        if after is not None:
            request["after"] = after
        return self._call_json("tickets_search", request)

    def _ticket_contacts(self, ticket_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Contact ids per ticket (v4 batch read); see _tickets.ticket_contacts."""
        return ticket_contacts(self._call_json, ticket_ids)

    def closed_tickets(self, cursor: str | None,
                       contacts: bool = True) -> Iterator[TicketPage]:
        """Pages of tickets closed since `cursor` (None: since `start_at`, default a day ago).

        A resumed cursor re-reads the last `overlap` of closures (index lag) and skips
        the tickets it already yielded; see _cursor.py for the format. `contacts=False`:
        no associations read, contact_ids empty.
        """
        if cursor is None:
            start = self._start_at or datetime.now(UTC) - timedelta(days=1)
            state = SearchCursor(watermark_ms=to_ms(start))
            query_from = state.watermark_ms
        else:
            state = SearchCursor.loads(cursor)
            query_from = state.watermark_ms - self._overlap_ms
        return closed_ticket_pages(search=self._search,
                                   contacts_of=self._ticket_contacts if contacts else _no_links,
                                   cursor=state, query_from_ms=query_from,
                                   page_size=self._page_size, overlap_ms=self._overlap_ms,
                                   extra=self._ticket_extra)

    def closed_tickets_by_id(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        """Of these (notified) tickets, the closed ones, as the poll reads them; see
        _notified.py (tickets batch read, 100 per call, then their contacts)."""
        if not ticket_ids:
            return []
        return closed_tickets_by_id(self._call_json, self._ticket_contacts,
                                    ticket_ids, set(self._closed_stage_ids()),
                                    self._ticket_extra)

    def reopened(self, ticket_ids: Sequence[str]) -> set[str]:
        """Tickets no longer in a CLOSED stage of their pipeline, or deleted (100 per call).

        The pipelines are the cached ones; a stage they do not list (a pipeline edited since)
        re-reads them once before deciding.
        """
        if not ticket_ids:
            return set()
        return self._not_closed(ticket_ids, ticket_stages(self._call_json, ticket_ids))

    def reopened_with_attribution(self, ticket_ids: Sequence[str], others: Sequence[str],
                                  ) -> tuple[set[str], dict[str, Attribution]]:
        """`reopened(ticket_ids)` and the attribution of `others` from the same batch
        reads (the stage and owner properties together, 100 tickets a call)."""
        props = ticket_props(self._call_json, [*ticket_ids, *others],
                             [*STAGE_PROPERTIES, *ATTRIBUTION_PROPERTIES])
        wanted = {str(i) for i in ticket_ids}
        stages = {i: stage_of(p) for i, p in props.items() if i in wanted}
        who = {str(i): Attribution(owner_id=props[str(i)].get("hubspot_owner_id") or None,
                                   team_id=props[str(i)].get("hubspot_team_id") or None)
               for i in others if str(i) in props}
        return (self._not_closed(ticket_ids, stages) if ticket_ids else set()), who

    def _not_closed(self, ticket_ids: Sequence[str], stages: dict[str, Stage]) -> set[str]:
        states = self._stages()
        if unknown_stages(stages, states):
            states = self._stages(refresh=True)
        gone = not_closed(ticket_ids, stages, states)
        log.info("hubspot.tickets.reopened", source=self.name, asked=len(set(ticket_ids)),
                 not_closed=len(gone))
        return gone

    def ticket_attribution(self, ticket_ids: Sequence[str]) -> dict[str, Attribution]:
        """Owner and team of each ticket now (tickets batch read, 100 per call); deleted
        tickets are left out. See _ticket_fields.py."""
        if not ticket_ids:
            return {}
        return read_attribution(self._call_json, ticket_ids, source=self.name)

    def update_tickets(self, updates: Sequence[TicketUpdate]) -> WriteResult:
        """Ticket properties (tickets batch update), then notes on the tickets (and their
        primary contacts); tags are ignored: HubSpot tickets have none. See
        _ticket_fields.properties_then_notes and _notes.py."""
        return properties_then_notes(self._call_json, self._add_notes, updates,
                                     source=self.name)

    def _add_notes(self, updates: Sequence[TicketUpdate]) -> WriteResult:
        return add_ticket_notes(self._call_self_counted, self._count, self._post_json,
                                self._ticket_contacts, self._landed_notes, updates,
                                source=self.name)

    def _landed_notes(self, wanted: Sequence[tuple[str, str]]) -> set[str]:
        """Markers already in a note on their ticket (one try: it runs inside a notes
        create attempt, whose retry policy repeats it). See _notes.landed_markers."""
        return landed_markers(self._associations_api, self._notes_api, self._count,
                              self._timeout, wanted)

    def erase_quotes(self, items: Sequence[Erasure]) -> WriteResult:
        """Hook notes archived, ticket properties and task text blanked; see _erase.py."""
        return erase_quotes(self._call, self._associations_api, self._notes_api,
                            self._tickets_api, self._tasks_api, items, source=self.name)

    # -- follow-up tasks --------------------------------------------------------------------

    def write_follow_ups(self, items: Sequence[FollowUp]) -> FollowUpResult:
        """A task per follow-up (or an update of its task), 100 per call; see _tasks.py."""
        return write_tasks(self._call_json, self._call_self_counted, self._count,
                           self._post_json,
                           self._rating_time_owners, self._landed_tasks, items,
                           source=self.name)

    def start_follow_ups(self, items: Sequence[FollowUp]) -> Callable[[], FollowUpResult]:
        """Nothing to send ahead: the returned call is write_follow_ups (after the contact
        write, as before); HubSpot's batch create answers at once, with no job to poll."""
        return partial(self.write_follow_ups, list(items))

    def _rating_time_owners(self, items: Sequence[FollowUp]) -> dict[str, str]:
        """The ticket's owner at rating time (passed in, else read), else the contact's."""
        return rating_time_owners(self._call, self._tickets_api, self._contacts_api, items)

    def _landed_tasks(self, items: Sequence[FollowUp]) -> dict[str, str]:
        return landed_tasks(self._associations_api, self._tasks_api, self._count,
                            self._timeout, items)

    # -- contacts ---------------------------------------------------------------------------

    def contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Read contacts 100 at a time; ids HubSpot does not know are left out (count logged)."""
        return read_contacts(self._call_json, ids, source=self.name,
                             extra=self._contact_extra)

    def find_contacts_by_email(self, emails: Sequence[str]) -> dict[str, Contact]:
        """Contacts by address (lower-cased key), for survey triggers that name only an
        e-mail: one batch read per 100 with idProperty=email; unknown ones are left out."""
        return read_contacts_by_email(self._call_json, emails, source=self.name,
                                      extra=self._contact_extra)

    def members(self, selection: MemberSelection) -> Iterator[list[Contact]]:
        """Pages of a contact list's members (lists v3), read with the contacts' properties.

        Only `list_id` selects on HubSpot; anything else raises ConfigError at once.
        """
        list_id = list_id_of(selection, source=self.name)
        return member_pages(self._call, self._memberships_api, self.contacts, list_id,
                            source=self.name)

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        """Batch-update contacts 100 at a time; per-contact refusals land in `rejected`.

        Updates for the same contact are merged (later values win) because HubSpot refuses
        a batch that names one id twice. A whole batch refused (400, e.g. an unknown
        property) raises RecordRejected: the values are the same on a retry, so a caller
        that re-sends everything after fixing the mapping writes nothing twice. A retry
        after a failure that may have been applied re-sends only what did not land (see
        _contact_writes.py).
        """
        return write_contact_batches(self._call_self_counted, self._count, self._contacts_api,
                                     self._timeout, updates, source=self.name,
                                     post=self._post_json)

    # -- setup and checks -------------------------------------------------------------------

    def ensure_properties(self, group: str, group_label: str,
                          specs: Sequence[PropertySpec]) -> list[str]:
        """Create the group and the missing properties (one GET, then one POST per missing)."""
        return _properties.ensure(self._call, self._properties_api, self._groups_api,
                                  group=group, group_label=group_label, specs=specs,
                                  source=self.name)

    def check_online(self, required_scopes: Sequence[str], property_names: Sequence[str],
                     ticket_property_names: Sequence[str] = ()) -> OnlineCheck:
        """Token scopes, the configured lists, missing contact and ticket properties listed
        apart (the caller says once how many of each); see _online.py."""
        return check_online(self._token_scopes, self._call, self._properties_api,
                            self._lists_api, self._lists, required_scopes, property_names,
                            ticket_property_names)

    def undefined_properties(self, ticket_names: Sequence[str],
                             contact_names: Sequence[str]) -> dict[str, list[str]]:
        """Of these, the ticket / contact properties the portal does not have (properties
        API, one read per object type asked about)."""
        out: dict[str, list[str]] = {}
        for obj, names in (("ticket", ticket_names), ("contact", contact_names)):
            if names:
                existing = _properties.existing_names(self._call, self._properties_api,
                                                      f"{obj}s")
                out[obj] = [n for n in names if n not in existing]
        return out


if TYPE_CHECKING:  # mypy proves the adapter satisfies the protocol the jobs use

    def _conforms(adapter: HubSpotAdapter) -> CRMAdapter:
        return adapter


def _no_links(ticket_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """No contacts read (closed_tickets(contacts=False))."""
    return {}
