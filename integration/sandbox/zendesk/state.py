"""The sandbox account's data: organisations, groups, users, user fields, tickets.

One re-entrant lock guards everything: the HTTP server is threaded and tests change the
state from the test thread while zenpy reads it over HTTP.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from . import seed as data
from .fields import coerce_values, definition_problems
from .records import STATUSES, Group, Org, Ticket, User, comment_json
from .ticket_fields import TicketFields
from .values import iso, normalize_tags, now, utc

ROLES = ("end-user", "agent", "admin")


class ClosedTicketError(Exception):
    """The ticket is closed: Zendesk refuses every change (closed is final)."""


class InvalidChange(ValueError):
    """A change Zendesk would refuse; `attribute` names the offending key."""

    def __init__(self, attribute: str, message: str,
                 details: dict[str, list[dict[str, str]]] | None = None) -> None:
        super().__init__(message)
        self.attribute = attribute
        self.details = details or {attribute: [{"description": message,
                                                "error": "InvalidValue"}]}


def _at(value: datetime | None) -> datetime:
    return utc(value) if value is not None else now()


def _id(value: str | int | None) -> int | None:
    return int(value) if value is not None else None


class ZendeskState:
    """In-memory Zendesk account. Build with `ZendeskState()` (empty) or `.seeded(...)`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.base_url = f"https://{data.DEFAULT_SUBDOMAIN}.zendesk.com"
        """Prefix of the `url` of every object; the sandbox sets its own on start."""
        self.organizations: dict[int, Org] = {}
        self.groups: dict[int, Group] = {}
        self.users: dict[int, User] = {}
        self.tickets: dict[int, Ticket] = {}
        self.fields: dict[str, dict[str, Any]] = {}
        """User-field definitions by lower-cased key, in creation order."""
        self.ticket_fields = TicketFields(self.base_url)
        self.user_writes: list[tuple[str, dict[str, Any]]] = []
        """Every user-field update applied, in order: (user id, fields written)."""
        self.status_listeners: list[Callable[[Callable[[], dict[str, Any]], str, str], None]] = []
        """Called (the ticket's JSON, made on demand; status before; status after) on every
        status change: the sandbox's triggers (webhooks.py) listen here."""
        self.automation: Any = None  # webhooks.Automation, set by the sandbox server
        self._stream: list[tuple[int, int]] = []
        """(seq, ticket id) per change, seq ascending; entries older than a ticket's seq are
        stale and skipped, so a changed ticket moves to the end of the export."""
        self._seq = 0
        self._next = {"ticket": data.FIRST_TICKET_ID, "user": data.FIRST_USER_ID,
                      "org": data.FIRST_ORG_ID, "group": data.FIRST_GROUP_ID,
                      "field": data.FIRST_FIELD_ID, "option": data.FIRST_OPTION_ID,
                      "comment": data.FIRST_COMMENT_ID, "audit": data.FIRST_AUDIT_ID}

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._next[kind]
            self._next[kind] += 1
            return value

    # ------------------------------------------------------------ creation
    def create_organization(self, name: str, tags: Sequence[str] = (), *,
                            created_at: datetime | None = None) -> str:
        with self.lock:
            oid = self.next_id("org")
            self.organizations[oid] = Org(oid, name, normalize_tags(tags), _at(created_at))
            return str(oid)

    def create_group(self, name: str, *, created_at: datetime | None = None) -> str:
        with self.lock:
            gid = self.next_id("group")
            self.groups[gid] = Group(gid, name, _at(created_at))
            return str(gid)

    def create_user(self, email: str | None, name: str = "Ada Doe", locale: str = "en-US",
                    time_zone: str = "UTC", organization_id: str | None = None,
                    tags: Sequence[str] = (), role: str = "end-user",
                    created_at: datetime | None = None, phone: str | None = None) -> str:
        """Add a user; `time_zone` is an IANA name (shown as `iana_time_zone`)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        created = _at(created_at)
        with self.lock:
            org = _id(organization_id)
            if org is not None and org not in self.organizations:
                raise KeyError(f"unknown organization {organization_id}")
            uid = self.next_id("user")
            self.users[uid] = User(uid, name, email, locale, time_zone, org, role,
                                   normalize_tags(tags), {}, created, created, phone)
            return str(uid)

    def ensure_agent(self, email: str) -> int:
        """The agent a token belongs to (users/me); created on first use."""
        with self.lock:
            for user in self.users.values():
                if user.email == email and user.role != "end-user":
                    return user.id
            return int(self.create_user(email, "Sandbox Admin", role="admin"))

    def create_ticket(self, subject: str, requester_id: str | None, *,
                      group_id: str | None = None, organization_id: str | None = None,
                      brand_id: str = "1", tags: Sequence[str] = (), status: str = "open",
                      created_at: datetime | None = None,
                      custom_fields: Mapping[int, Any] | None = None) -> str:
        """Add a ticket whose description is the requester's first public comment;
        `custom_fields`: custom ticket field id -> value (ValueError for an unknown one)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        created = _at(created_at)
        with self.lock:
            requester = _id(requester_id)
            if requester is not None and requester not in self.users:
                raise KeyError(f"unknown user {requester_id}")
            org = _id(organization_id)
            if org is None and requester is not None:
                org = self.users[requester].organization_id
            tid = self.next_id("ticket")
            ticket = Ticket(tid, subject, f"{subject}. Please help.", status, requester, None,
                            org, _id(group_id), int(brand_id), normalize_tags(tags), created,
                            created, 0, created,
                            solved_at=created if status in ("solved", "closed") else None)
            ticket.custom_fields = self._custom_values(custom_fields or {})
            self.tickets[tid] = ticket
            self._add_comment(ticket, ticket.description, True, requester or 0, created)
            self._touch(ticket, created)
            return str(tid)

    # ------------------------------------------------------------ lifecycle
    def solve_ticket(self, ticket_id: str, at: datetime | None = None) -> None:
        self._set_status(int(ticket_id), "solved", _at(at))

    def close_ticket(self, ticket_id: str, at: datetime | None = None) -> None:
        self._set_status(int(ticket_id), "closed", _at(at))

    def reopen_ticket(self, ticket_id: str, at: datetime | None = None) -> None:
        self._set_status(int(ticket_id), "open", _at(at))

    def delete_ticket(self, ticket_id: str, at: datetime | None = None) -> None:
        with self.lock:
            ticket = self._live_ticket(int(ticket_id))
            ticket.status = "deleted"
            ticket.status_updated = _at(at)
            self._touch(ticket, _at(at))

    def _set_status(self, tid: int, status: str, at: datetime) -> None:
        with self.lock:
            ticket = self._live_ticket(tid)
            if ticket.status == "closed":
                raise ClosedTicketError(f"ticket {tid} is closed")
            if status in ("solved", "closed") and ticket.status != "solved":
                ticket.solved_at = at
            if status not in ("solved", "closed") and ticket.status == "solved":
                ticket.reopens += 1
            before = ticket.status
            if status != ticket.status:
                ticket.status_updated = at
            ticket.status = status
            self._touch(ticket, at)
            if before != status:
                for listener in list(self.status_listeners):
                    listener(lambda: ticket.to_json(self.base_url), before, status)

    def create_ticket_field(self, field_id: int, title: str,
                            options: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """Add a custom ticket field (a dropdown when `options` (value, name) are given);
        every ticket then lists it in custom_fields, null until set."""
        with self.lock:
            field = self.ticket_fields.create(field_id, self.base_url, title, options)
            for ticket in self.tickets.values():
                ticket.custom_fields.setdefault(field_id, None)
            return field

    def _custom_values(self, given: Mapping[int, Any]) -> dict[int, Any]:
        values: dict[int, Any] = dict.fromkeys(self.ticket_fields.custom_ids())
        values.update(self.ticket_fields.checked(given))
        return values

    def _live_ticket(self, tid: int) -> Ticket:
        ticket = self.tickets[tid]
        if ticket.status == "deleted":
            raise KeyError(f"ticket {tid} is deleted")
        return ticket

    def _touch(self, ticket: Ticket, at: datetime) -> None:
        self._seq += 1
        ticket.seq = self._seq
        ticket.updated = max(at, ticket.created)
        self._stream.append((self._seq, ticket.id))

    def _add_comment(self, ticket: Ticket, body: str, public: bool, author: int,
                     at: datetime) -> dict[str, Any]:
        comment = {"id": self.next_id("comment"), "body": body, "public": public,
                   "author_id": author, "created_at": at}
        ticket.comments.append(comment)
        if public and author != ticket.requester_id:
            ticket.replies += 1
        return comment

    # ------------------------------------------------------------ API writes
    def assign_ticket(self, ticket_id: str, assignee_id: str | None,
                      group_id: str | None = None, at: datetime | None = None) -> None:
        """An agent hands a (solved, not closed) ticket on to another assignee and group."""
        with self.lock:
            ticket = self._live_ticket(int(ticket_id))
            if ticket.status == "closed":
                raise ClosedTicketError(f"ticket {ticket_id} is closed")
            ticket.assignee_id = _id(assignee_id)
            ticket.group_id = _id(group_id)
            self._touch(ticket, _at(at))

    def update_ticket(self, tid: int, change: dict[str, Any], author_id: int) -> dict[str, Any]:
        """Apply a PUT /tickets body; returns the audit. KeyError, ClosedTicketError,
        InvalidChange as Zendesk would refuse."""
        at = now()
        with self.lock:
            ticket = self._live_ticket(tid)
            if ticket.status == "closed":
                raise ClosedTicketError(f"ticket {tid} is closed")
            tags = list(ticket.tags)
            if "tags" in change:
                tags = normalize_tags(_tag_list(change["tags"], "tags"))
            tags = normalize_tags([*tags, *_tag_list(change.get("additional_tags", []),
                                                     "additional_tags")])
            removed = set(normalize_tags(_tag_list(change.get("remove_tags", []),
                                                   "remove_tags")))
            tags = [t for t in tags if t not in removed]
            status = change.get("status", ticket.status)
            if status not in STATUSES[1:]:
                raise InvalidChange("status", f"Status: {status!r} is not a valid status")
            body, public, author = _comment(change.get("comment"))
            events: list[dict[str, Any]] = []
            if body is not None:
                made = self._add_comment(ticket, body, public, author or author_id, at)
                events.append({**comment_json(made), "type": "Comment"})
            if tags != ticket.tags:
                events.append({"id": self.next_id("audit"), "type": "Change",
                               "field_name": "tags", "value": tags,
                               "previous_value": ticket.tags})
                ticket.tags = tags
            if status != ticket.status:
                events.append({"id": self.next_id("audit"), "type": "Change",
                               "field_name": "status", "value": status,
                               "previous_value": ticket.status})
                self._set_status(tid, status, at)
            else:
                self._touch(ticket, at)
            return {"id": self.next_id("audit"), "ticket_id": tid, "created_at": iso(at),
                    "author_id": author_id, "metadata": {"system": {}, "custom": {}},
                    "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                    "events": events}

    def create_api_ticket(self, change: dict[str, Any], author_id: int) -> int:
        """Apply a POST /tickets body (create_many item); InvalidChange as Zendesk refuses.

        The first comment is the description (private when `public` is false); a follow-up
        (`via_followup_source_id`) must name a closed ticket; requester, assignee and group
        must exist, and the assignee must be an agent.
        """
        at = now()
        with self.lock:
            body, public, author = _comment(change.get("comment"))
            if body is None:
                raise InvalidChange("description", "Description: cannot be blank")
            requester = _id(change.get("requester_id"))
            if requester is None or requester not in self.users:
                raise InvalidChange("requester", "Requester: is invalid")
            assignee = _id(change.get("assignee_id"))
            if assignee is not None and (assignee not in self.users
                                         or self.users[assignee].role == "end-user"):
                raise InvalidChange("assignee", "Assignee: is not an agent")
            group = _id(change.get("group_id"))
            if group is not None and group not in self.groups:
                raise InvalidChange("group", "Group: is invalid")
            source = _id(change.get("via_followup_source_id"))
            if source is not None:
                original = self.tickets.get(source)
                if original is None or original.status != "closed":
                    raise InvalidChange("via_followup_source_id",
                                        "Via followup source: must be a closed ticket")
            external = change.get("external_id")
            if external is not None and not isinstance(external, str):
                raise InvalidChange("external_id", "External: must be a string")
            status = change.get("status") or "open"
            if status not in STATUSES[1:]:
                raise InvalidChange("status", f"Status: {status!r} is not a valid status")
            tid = self.next_id("ticket")
            ticket = Ticket(tid, str(change.get("subject") or body[:60]), body, status,
                            requester, assignee, self.users[requester].organization_id, group,
                            int(change.get("brand_id") or 1),
                            normalize_tags(_tag_list(change.get("tags") or [], "tags")),
                            at, at, 0, at, external_id=external, followup_source_id=source)
            ticket.custom_fields = self._custom_values({})
            self.tickets[tid] = ticket
            if source is not None:
                self.tickets[source].followup_ids.append(tid)
            self._add_comment(ticket, body, public, author or author_id, at)
            self._touch(ticket, at)
            return tid

    def update_user(self, uid: int, change: dict[str, Any], at: datetime | None = None) -> None:
        """Apply a PUT /users body (user_fields, tags, name, locale). KeyError when the user
        is unknown; FieldValueError (a custom field) or InvalidChange (anything else) when a
        value does not fit, and nothing is changed then."""
        with self.lock:
            user = self.users[uid]
            values = coerce_values(self.fields, change.get("user_fields", {}))
            tags = user.tags
            if "tags" in change:
                tags = normalize_tags(_tag_list(change["tags"], "tags"))
            for key in ("name", "locale"):
                if key in change and not (isinstance(change[key], str) and change[key]):
                    raise InvalidChange(key, f"{key}: must be a non-empty text")
            user.user_fields.update(values)
            if values:
                self.user_writes.append((str(uid), dict(values)))
            user.tags = tags
            user.name = change.get("name", user.name)
            user.locale = change.get("locale", user.locale)
            user.updated = max(_at(at), user.created)

    def create_user_field(self, body: Any, at: datetime | None = None) -> dict[str, Any]:
        """Add a user-field definition; InvalidChange details come from Zendesk's rules."""
        with self.lock:
            problems = definition_problems(body, set(self.fields))
            if problems:
                raise InvalidChange(next(iter(problems)), "Record validation errors", problems)
            fid, stamp = self.next_id("field"), iso(_at(at))
            options = [{"id": self.next_id("option"), "name": o["name"], "raw_name": o["name"],
                        "value": o["value"], "default": False, "position": i}
                       for i, o in enumerate(body.get("custom_field_options") or [])]
            title = body["title"]
            description = body.get("description") or ""
            field = {
                "id": fid, "url": f"{self.base_url}/api/v2/user_fields/{fid}.json",
                "key": body["key"], "type": body.get("type", "text"), "title": title,
                "raw_title": title, "description": description,
                "raw_description": description, "position": len(self.fields),
                "active": True, "system": False, "regexp_for_validation":
                    body.get("regexp_for_validation"), "tag": None,
                "created_at": stamp, "updated_at": stamp,
            }
            if options:
                field["custom_field_options"] = options
            self.fields[body["key"].lower()] = field
            return dict(field)

    # ------------------------------------------------------------ reads
    def user(self, user_id: str) -> dict[str, Any]:
        """The user's JSON as the API returns it (KeyError when unknown)."""
        with self.lock:
            return self.users[int(user_id)].to_json(self.base_url, self.field_keys())

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        """The ticket's JSON, deleted ones included (the API hides those: see handlers)."""
        with self.lock:
            return self.tickets[int(ticket_id)].to_json(self.base_url)

    def comments(self, ticket_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [comment_json(c) for c in self.tickets[int(ticket_id)].comments]

    def user_fields(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(f) for f in self.fields.values()]

    def field_keys(self) -> list[str]:
        with self.lock:
            return [f["key"] for f in self.fields.values()]

    def changes_after(self, seq: int, since: datetime | None, limit: int,
                      fresh_after: datetime | None) -> tuple[list[Ticket], int, bool]:
        """One page of the change stream after position `seq`: (tickets, new position,
        end_of_stream). Tickets updated before `since` are passed over; the page stops at the
        first one changed after `fresh_after` (Zendesk hides the last minute's changes)."""
        with self.lock:
            out: list[Ticket] = []
            position = seq
            start = bisect.bisect_right(self._stream, (seq, 1 << 62))
            for entry_seq, tid in self._stream[start:]:
                ticket = self.tickets[tid]
                if ticket.seq != entry_seq or (since is not None and ticket.updated < since):
                    position = entry_seq  # stale or too old: skipping past it loses nothing
                    continue
                if fresh_after is not None and ticket.updated > fresh_after:
                    return out, position, True
                if len(out) == limit:
                    return out, position, False
                out.append(ticket)
                position = entry_seq
            return out, position, True

    # ------------------------------------------------------------ seeding
    @classmethod
    def seeded(cls, tickets: int = 12, users: int | None = None, seed: int = 7,
               now: datetime | None = None) -> ZendeskState:
        """A realistic account: multilingual end users (some without e-mail) in
        organisations, groups and agents, tickets open, solved, closed and reopened.

        Deterministic for given arguments; fast enough for 10,000+ tickets."""
        from .seeding import populate

        state = cls()
        populate(state, tickets=tickets, users=users, seed=seed, now=now)
        return state


def _tag_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidChange(name, f"{name}: must be a list of strings")
    return value


def _comment(comment: Any) -> tuple[str | None, bool, int | None]:
    """(body, public, author_id) of a `comment` object; body None when there is none."""
    if comment is None:
        return None, True, None
    if not isinstance(comment, dict):
        raise InvalidChange("comment", "Comment: must be an object")
    body = comment.get("body", comment.get("html_body"))
    if not isinstance(body, str) or not body.strip():
        raise InvalidChange("comment", "Comment: cannot be blank")
    public = comment.get("public", True)
    if not isinstance(public, bool):
        raise InvalidChange("comment", "Comment: public must be true or false")
    author = comment.get("author_id")
    if author is not None and (isinstance(author, bool) or not isinstance(author, int)):
        raise InvalidChange("comment", "Comment: author_id must be a user id")
    return body, public, author
