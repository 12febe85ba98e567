"""The sandbox portal's data: pipelines, properties, contacts, tickets, associations,
contact lists and notes.

One lock guards everything: the HTTP server is threaded and tests mutate state from the
test thread while the client reads it over HTTP.
"""

from __future__ import annotations

import copy
import random
import threading
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .. import _seed
from . import seed as data
from .lists import ContactList
from .values import iso_ms, now_ms, to_ms

Props = dict[str, str | None]


class Record:
    """One CRM object: id, property values (strings), its timestamps in epoch ms."""

    __slots__ = ("archived_ms", "created_ms", "id", "props", "updated_ms")

    def __init__(self, id_: str, props: Props, created_ms: int, updated_ms: int) -> None:
        self.id = id_
        self.props = props
        self.created_ms = created_ms
        self.updated_ms = updated_ms
        self.archived_ms: int | None = None

    def public(self, names: Iterable[str]) -> dict[str, Any]:
        """The v3 SimplePublicObject shape with just the given properties."""
        props = self.props
        out: dict[str, Any] = {
            "id": self.id,
            "properties": {n: props.get(n) for n in names},
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.updated_ms),
            "archived": self.archived_ms is not None,
        }
        if self.archived_ms is not None:
            out["archivedAt"] = iso_ms(self.archived_ms)
        return out


class Note:
    """A note (engagement) and the records it was associated with when created."""

    __slots__ = ("contact_ids", "record", "ticket_ids")

    def __init__(self, record: Record, contact_ids: list[str], ticket_ids: list[str]) -> None:
        self.record = record
        self.contact_ids = contact_ids
        self.ticket_ids = ticket_ids


def _pipelines() -> list[dict[str, Any]]:
    out = []
    for order, (pid, label, stages) in enumerate(data.PIPELINES):
        out.append({
            "id": pid, "label": label, "displayOrder": order,
            "createdAt": data.EPOCH_ISO, "updatedAt": data.EPOCH_ISO, "archived": False,
            "stages": [{
                "id": sid, "label": slabel, "displayOrder": i,
                "metadata": {"ticketState": state},
                "createdAt": data.EPOCH_ISO, "updatedAt": data.EPOCH_ISO, "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            } for i, (sid, slabel, state) in enumerate(stages)],
        })
    return out


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class HubSpotState:
    """In-memory HubSpot portal. Build with `HubSpotState()` (empty) or `.seeded(...)`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pipelines = _pipelines()
        self.stages: dict[str, tuple[str, str]] = {
            s["id"]: (p["id"], s["metadata"]["ticketState"])
            for p in self.pipelines for s in p["stages"]}
        self.properties: dict[str, dict[str, dict[str, Any]]] = {
            "contacts": {p["name"]: p for p in data.contact_properties()},
            "tickets": {p["name"]: p for p in data.ticket_properties()},
            "notes": {p["name"]: p for p in data.note_properties()},
            "tasks": {p["name"]: p for p in data.task_properties()},
        }
        self.groups: dict[str, dict[str, dict[str, Any]]] = {
            obj: {name: {"name": name, "label": label, "displayOrder": -1, "archived": False}
                  for name, label in groups}
            for obj, groups in data.PROPERTY_GROUPS.items()}
        self.contacts: dict[str, Record] = {}
        self.tickets: dict[str, Record] = {}
        self.ticket_contacts: dict[str, list[str]] = {}
        self.archived_tickets: dict[str, Record] = {}
        """Deleted tickets: gone from search and reads, still readable with archived=true."""
        self.lists: dict[str, ContactList] = {}
        self.note_records: dict[str, Note] = {}
        self.archived_notes: dict[str, Note] = {}  # notes batch archive: the recycling bin
        self.task_records: dict[str, Note] = {}  # a task links like a note does
        self.contact_writes: list[tuple[str, Props]] = []
        self.ticket_writes: list[tuple[str, Props]] = []
        """Every update applied to a contact, in order: (contact id, values written)."""
        self.version = 0
        """Bumped on every ticket change so search can cache sorted result lists."""
        self.search_cache: dict[str, tuple[int, list[str]]] = {}
        self.app_webhooks: Any = None  # webhooks.HubSpotWebhooks, set by the sandbox server
        self.ticket_listeners: list[Callable[[str, str, Any], None]] = []
        """Called (ticket id, property, new value) when a ticket's stage changes: the webhook
        subscriptions (webhooks.py) listen here."""
        self._next_contact = 1
        self._by_email: dict[str, str] = {}  # lower-cased address -> id (contact_by_email)
        self._next_ticket = 1001
        self._next_list = 1
        self._next_note = 50_000_001

    # ----------------------------------------------------------------- writes
    def create_contact(self, email: str | None, firstname: str, lastname: str,
                       language: str | None = "en", *, created_at: datetime | None = None,
                       timezone: str | None = None, customer_since: datetime | None = None,
                       company_id: str | None = None, region: str | None = None,
                       phone: str | None = None, mobilephone: str | None = None) -> str:
        """Add a contact; returns its id (a numeric string).

        `timezone` is an IANA name ("Europe/Oslo"), stored the way HubSpot stores it
        ("europe_slash_oslo"); an already-encoded value is stored unchanged. A contact with
        `customer_since` is in lifecycle stage "customer" since that instant.
        """
        created = to_ms(created_at) if created_at else now_ms()
        with self.lock:
            cid = str(self._next_contact)
            self._next_contact += 1
            self.contacts[cid] = Record(cid, {
                "email": email, "firstname": firstname, "lastname": lastname,
                "hs_language": language, "createdate": iso_ms(created),
                "lastmodifieddate": iso_ms(created), "hs_object_id": cid,
                "hs_timezone": data.hubspot_timezone(timezone) if timezone else None,
                "lifecyclestage": "customer" if customer_since else None,
                "hs_lifecyclestage_customer_date":
                    iso_ms(to_ms(customer_since)) if customer_since else None,
                "associatedcompanyid": company_id, data.REGION_PROPERTY: region,
                "phone": phone, "mobilephone": mobilephone,
            }, created, created)
            return cid

    def create_ticket(
            self, subject: str, contact_id: str | None, pipeline: str = "0",
                      closed_at: datetime | None = None, owner_id: str | None = None,
                      team_id: str | None = None, *, created_at: datetime | None = None,
                      content: str | None = None, priority: str | None = None,
                      store: str | None = None) -> str:
        """Add a ticket (closed when `closed_at` is given) associated to `contact_id` if any."""
        closed = to_ms(closed_at) if closed_at else None
        if created_at is not None:
            created = to_ms(created_at)
        else:
            created = now_ms() if closed is None else min(now_ms(), closed - 3_600_000)
        with self.lock:
            if pipeline not in {p["id"] for p in self.pipelines}:
                raise KeyError(f"unknown pipeline {pipeline!r}")
            stage = self.closed_stage(pipeline) if closed is not None else self.open_stage(pipeline)
            return self._add_ticket(
                subject, [contact_id] if contact_id else None, pipeline, stage, created=created,
                closed=closed, owner_id=owner_id, team_id=team_id, content=content,
                priority=priority, store=store)

    def _add_ticket(self, subject: str, contact_ids: list[str] | None, pipeline: str,
                    stage: str, *, created: int, closed: int | None, owner_id: str | None,
                    team_id: str | None, content: str | None, priority: str | None,
                    store: str | None = None) -> str:
        tid = str(self._next_ticket)
        self._next_ticket += 1
        updated = closed if closed is not None and closed > created else created
        self.tickets[tid] = Record(tid, {
            "subject": subject, "content": content, "hs_pipeline": pipeline,
            "hs_pipeline_stage": stage,
            "closed_date": iso_ms(closed) if closed is not None else None,
            "hubspot_owner_id": owner_id, "hubspot_team_id": team_id,
            "hs_ticket_priority": priority, "createdate": iso_ms(created),
            "hs_lastmodifieddate": iso_ms(updated), "hs_object_id": tid,
            data.STORE_PROPERTY: store,
        }, created, updated)
        if contact_ids:
            self.ticket_contacts[tid] = list(contact_ids)
        self.version += 1
        self._stage_changed(tid, None)
        return tid

    def _stage_changed(self, tid: str, before: Any) -> None:
        after = self.tickets[tid].props.get("hs_pipeline_stage")
        if after != before:
            for listener in list(self.ticket_listeners):
                listener(tid, "hs_pipeline_stage", after)

    def close_ticket(self, ticket_id: str, at: datetime | None = None) -> dict[str, Any]:
        """Move a ticket to its pipeline's closed stage and stamp closed_date; returns it."""
        closed = to_ms(at) if at else now_ms()
        with self.lock:
            rec = self.tickets[ticket_id]
            before = rec.props.get("hs_pipeline_stage")
            rec.props["hs_pipeline_stage"] = self.closed_stage(rec.props["hs_pipeline"] or "0")
            rec.props["closed_date"] = iso_ms(closed)
            rec.updated_ms = max(closed, rec.created_ms)
            rec.props["hs_lastmodifieddate"] = iso_ms(rec.updated_ms)
            self.version += 1
            self._stage_changed(ticket_id, before)
            return self.ticket(ticket_id)

    def reopen_ticket(self, ticket_id: str, at: datetime | None = None) -> dict[str, Any]:
        """Move a closed ticket back to its pipeline's last open stage ("waiting on us", as
        when the customer writes again) and clear closed_date, as HubSpot does."""
        when = to_ms(at) if at else now_ms()
        with self.lock:
            rec = self.tickets[ticket_id]
            pipeline = rec.props["hs_pipeline"] or "0"
            open_stages = [s for s, (p, st) in self.stages.items()
                           if p == pipeline and st == "OPEN"]
            before = rec.props.get("hs_pipeline_stage")
            rec.props["hs_pipeline_stage"] = open_stages[-1]
            rec.props["closed_date"] = None
            rec.updated_ms = max(when, rec.created_ms)
            rec.props["hs_lastmodifieddate"] = iso_ms(rec.updated_ms)
            self.version += 1
            self._stage_changed(ticket_id, before)
            return self.ticket(ticket_id)

    def delete_ticket(self, ticket_id: str) -> None:
        """Archive a ticket (HubSpot's delete): it leaves search and batch reads."""
        with self.lock:
            rec = self.tickets.pop(ticket_id)
            rec.archived_ms = now_ms()
            self.archived_tickets[ticket_id] = rec
            self.version += 1

    def delete_contact(self, contact_id: str) -> None:
        """Delete a contact (HubSpot archives it): it leaves reads, and its associations go."""
        with self.lock:
            self.contacts.pop(contact_id)
            for linked in self.ticket_contacts.values():
                while contact_id in linked:
                    linked.remove(contact_id)
            self.version += 1

    def associate(self, ticket_id: str, contact_id: str) -> None:
        with self.lock:
            self.ticket_contacts.setdefault(ticket_id, []).append(contact_id)

    def update_contact(self, contact_id: str, values: Props) -> Record:
        """Apply already-validated values (None clears) and bump lastmodifieddate.

        Like HubSpot, entering lifecycle stage "customer" stamps the customer date once.
        """
        with self.lock:
            rec = self.contacts[contact_id]
            rec.props.update(values)
            self.contact_writes.append((contact_id, dict(values)))
            rec.updated_ms = max(now_ms(), rec.created_ms)
            rec.props["lastmodifieddate"] = iso_ms(rec.updated_ms)
            if rec.props.get("lifecyclestage") == "customer" \
                    and not rec.props.get("hs_lifecyclestage_customer_date"):
                rec.props["hs_lifecyclestage_customer_date"] = iso_ms(rec.updated_ms)
            return rec

    def update_ticket(self, ticket_id: str, values: Props) -> Record:
        """Apply already-validated values (None clears) and bump hs_lastmodifieddate."""
        with self.lock:
            rec = self.tickets[ticket_id]
            before = rec.props.get("hs_pipeline_stage")
            rec.props.update(values)
            self.ticket_writes.append((ticket_id, dict(values)))
            rec.updated_ms = max(now_ms(), rec.created_ms)
            rec.props["hs_lastmodifieddate"] = iso_ms(rec.updated_ms)
            self.version += 1
            self._stage_changed(ticket_id, before)
            return rec

    def assign_ticket(self, ticket_id: str, owner_id: str | None,
                      team_id: str | None = None) -> None:
        """An agent hands the ticket on (reassignment after close, as admins do)."""
        self.update_ticket(ticket_id, {"hubspot_owner_id": owner_id, "hubspot_team_id": team_id})

    # ------------------------------------------------------------------ lists
    def create_list(self, name: str, contact_ids: Iterable[str] = (),
                    at: datetime | None = None) -> str:
        """Add a manual contact list (objectTypeId 0-1) with these members; returns its id."""
        when = to_ms(at) if at else now_ms()
        members = list(contact_ids)
        with self.lock:
            unknown = [cid for cid in members if cid not in self.contacts]
            if unknown:
                raise KeyError(f"unknown contact {unknown[0]!r}")
            lid = str(self._next_list)
            self._next_list += 1
            self.lists[lid] = ContactList(lid, name, when, when)
            self.add_to_list(lid, members, at=at)
            return lid

    def add_to_list(self, list_id: str, contact_ids: Iterable[str],
                    at: datetime | None = None) -> None:
        """Add contacts (KeyError for an unknown list or contact); members keep their join time."""
        when = to_ms(at) if at else now_ms()
        with self.lock:
            lst = self.lists[list_id]
            for cid in contact_ids:
                if cid not in self.contacts:
                    raise KeyError(f"unknown contact {cid!r}")
                lst.members.setdefault(cid, when)
            lst.updated_ms = max(lst.updated_ms, when)
            lst.version += 1

    def remove_from_list(self, list_id: str, contact_ids: Iterable[str]) -> None:
        with self.lock:
            lst = self.lists[list_id]
            for cid in contact_ids:
                lst.members.pop(cid, None)
            lst.updated_ms = max(lst.updated_ms, now_ms())
            lst.version += 1

    # ------------------------------------------------------------------ notes
    def add_note(self, props: Props, contact_ids: list[str], ticket_ids: list[str]) -> Record:
        """Store a note created through the API (values already validated)."""
        stamp = now_ms()
        with self.lock:
            nid = str(self._next_note)
            self._next_note += 1
            rec = Record(nid, {**props, "hs_createdate": iso_ms(stamp),
                               "hs_lastmodifieddate": iso_ms(stamp), "hs_object_id": nid},
                         stamp, stamp)
            self.note_records[nid] = Note(rec, list(contact_ids), list(ticket_ids))
            return rec

    def add_task(self, props: Props, contact_ids: list[str], ticket_ids: list[str]) -> Record:
        """Store a task created through the API (values already validated)."""
        stamp = now_ms()
        with self.lock:
            tid = str(self._next_note)  # engagements share one id space
            self._next_note += 1
            rec = Record(tid, {**props, "hs_createdate": iso_ms(stamp),
                               "hs_lastmodifieddate": iso_ms(stamp), "hs_object_id": tid},
                         stamp, stamp)
            self.task_records[tid] = Note(rec, list(contact_ids), list(ticket_ids))
            return rec

    def tasks(self, ticket_id: str | None = None,
              contact_id: str | None = None) -> list[dict[str, Any]]:
        """The tasks on a ticket and/or a contact, oldest first, as flat dicts."""
        with self.lock:
            return [{"id": t.record.id, **t.record.props, "ticket_ids": list(t.ticket_ids),
                     "contact_ids": list(t.contact_ids)}
                    for t in self.task_records.values()
                    if (ticket_id is None or ticket_id in t.ticket_ids)
                    and (contact_id is None or contact_id in t.contact_ids)]

    def notes(self, ticket_id: str | None = None,
              contact_id: str | None = None) -> list[dict[str, Any]]:
        """The notes on a ticket and/or a contact (all when neither is given), oldest first:
        {"id", "body", "timestamp", "ticket_ids", "contact_ids"}."""
        with self.lock:
            return [{"id": n.record.id, "body": n.record.props.get("hs_note_body"),
                     "timestamp": n.record.props.get("hs_timestamp"),
                     "ticket_ids": list(n.ticket_ids), "contact_ids": list(n.contact_ids)}
                    for n in self.note_records.values()
                    if (ticket_id is None or ticket_id in n.ticket_ids)
                    and (contact_id is None or contact_id in n.contact_ids)]

    # ------------------------------------------------------------------ reads
    def contact(self, contact_id: str) -> dict[str, Any]:
        """A contact with every defined property (unset ones as null)."""
        with self.lock:
            rec = self.contacts[contact_id]
            names = sorted(set(self.properties["contacts"]) | set(rec.props))
            return rec.public(names)

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        with self.lock:
            rec = self.tickets[ticket_id]
            return rec.public(sorted(self.properties["tickets"]))

    def contact_by_email(self, email: str) -> str | None:
        """The contact with this address (any case). An index answers, checked against the
        record and rebuilt on a miss, so a bulk look-up in a big portal stays fast while
        every write path (they set props directly) stays free to change an address."""
        with self.lock:
            wanted = email.lower()
            for attempt in range(2):
                cid = self._by_email.get(wanted)
                rec = self.contacts.get(cid) if cid else None
                if rec is not None and (rec.props.get("email") or "").lower() == wanted:
                    return rec.id
                if attempt == 0:
                    self._by_email = {}
                    for r in self.contacts.values():  # the first of a shared address wins
                        if address := r.props.get("email"):
                            self._by_email.setdefault(str(address).lower(), r.id)
            return None

    def open_stage(self, pipeline: str) -> str:
        return next(s for s, (p, st) in self.stages.items() if p == pipeline and st == "OPEN")

    def closed_stage(self, pipeline: str) -> str:
        return next(s for s, (p, st) in self.stages.items() if p == pipeline and st == "CLOSED")

    def properties_copy(self, object_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.properties[object_type].values()))

    # ---------------------------------------------------------------- seeding
    @classmethod
    def seeded(cls, tickets: int = 50, contacts: int = 40, seed: int = 1,
               now: datetime | None = None) -> HubSpotState:
        """A realistic portal: multilingual contacts, ~80 % of tickets closed in the last days,
        and the list of customers (`seed.CUSTOMERS_LIST_ID`).

        Deterministic for a given (tickets, contacts, seed, now); fast enough for 10,000+ tickets.
        """
        state = cls()
        rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not secrets
        # A second stream for contact details added later, so the tickets a seed gives
        # (and the tests and benchmarks built on them) do not change.
        more = random.Random(seed * 7_919 + 1)  # noqa: S311 - as above
        places = random.Random(seed * 104_729 + 3)  # noqa: S311 - regions and stores, likewise
        now_ = to_ms(now or datetime.now(UTC))
        day = 86_400_000
        langs = [lang for lang, w in data.LANGUAGE_WEIGHTS for _ in range(w)]
        contact_ids: list[str] = []
        for i in range(contacts):
            lang = rng.choice(langs)
            firsts, lasts, domains = data.PEOPLE[lang]
            first, last = rng.choice(firsts), rng.choice(lasts)
            email = None if rng.random() < 0.05 else (
                f"{_ascii(first)}.{_ascii(last)}{i + 1}@{rng.choice(domains)}")
            created = now_ - rng.randrange(30 * day, 400 * day)
            zone = more.choice(data.ZONES_BY_LANGUAGE[lang]) if more.random() < 0.85 else None
            since = created + more.randrange(0, now_ - created) if more.random() < 0.6 else None
            company = more.choice(data.COMPANY_IDS) if more.random() < 0.7 else None
            contact_ids.append(state.create_contact(
                email, first, last, lang,
                created_at=datetime.fromtimestamp(created / 1000, UTC), timezone=zone,
                customer_since=datetime.fromtimestamp(since / 1000, UTC) if since else None,
                company_id=company, region=_seed.region_for(lang, places),
                mobilephone=_seed.phone_for(lang, i)))
        state._next_list = int(data.CUSTOMERS_LIST_ID)
        state.create_list(data.CUSTOMERS_LIST_NAME,
                          [c for c in contact_ids
                           if state.contacts[c].props["lifecyclestage"] == "customer"],
                          at=datetime.fromtimestamp(now_ / 1000, UTC))
        open_stages = {p: [s for s, (pp, st) in state.stages.items() if pp == p and st == "OPEN"]
                       for p in ("0", "5")}
        closed_stages = {p: [s for s, (pp, st) in state.stages.items()
                             if pp == p and st == "CLOSED"] for p in ("0", "5")}
        for _ in range(tickets):
            pipeline = "0" if rng.random() < 0.8 else "5"
            created = now_ - rng.randrange(day // 2, 30 * day)
            closed: int | None = None
            if rng.random() < 0.8:
                closed = min(created + rng.randrange(600_000, 5 * day), now_ - 60_000)
                closed = max(closed, created + 60_000)
            stage = rng.choice(closed_stages[pipeline] if closed else open_stages[pipeline])
            roll = rng.random()
            linked: list[str] = []
            if contact_ids and roll >= 0.05:
                linked.append(rng.choice(contact_ids))
                if roll > 0.96:
                    linked.append(rng.choice(contact_ids))
            state._add_ticket(
                rng.choice(data.SUBJECTS), linked, pipeline, stage, created=created,
                closed=closed, owner_id=rng.choice(data.OWNER_IDS),
                team_id=rng.choice(data.TEAM_IDS), content="Customer wrote in about this.",
                priority=rng.choice(data.PRIORITIES),
                store=_seed.store_for(state.contacts[linked[0]].props[data.REGION_PROPERTY]
                                      if linked else None, places))
        return state

