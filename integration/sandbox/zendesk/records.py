"""The account's records and their JSON, in the shapes Zendesk's API returns.

Ids are integers in JSON and timestamps ISO-8601 with a "Z"; every object carries its
own API `url` on the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from . import seed as data
from .values import iso

STATUSES: Final = ("new", "open", "pending", "hold", "solved", "closed")
"""Ticket statuses in Zendesk's order (search's status>=solved relies on it)."""


def _minutes(start: datetime, end: datetime | None) -> dict[str, int | None]:
    if end is None:
        return {"calendar": None, "business": None}
    value = max(0, int((end - start).total_seconds() // 60))
    return {"calendar": value, "business": value}


@dataclass
class Org:
    id: int
    name: str
    tags: list[str]
    created: datetime

    @property
    def updated(self) -> datetime:
        return self.created

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id, "url": f"{base}/api/v2/organizations/{self.id}.json",
            "name": self.name, "shared_tickets": False, "shared_comments": False,
            "external_id": None, "created_at": iso(self.created), "updated_at": iso(self.created),
            "domain_names": [], "details": "", "notes": "", "group_id": None,
            "tags": list(self.tags), "organization_fields": {},
        }


@dataclass
class Group:
    id: int
    name: str
    created: datetime

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id, "url": f"{base}/api/v2/groups/{self.id}.json", "name": self.name,
            "description": "", "default": False, "deleted": False, "is_public": True,
            "created_at": iso(self.created), "updated_at": iso(self.created),
        }


@dataclass
class User:
    id: int
    name: str
    email: str | None
    locale: str
    iana_time_zone: str
    organization_id: int | None
    role: str
    tags: list[str]
    user_fields: dict[str, Any]
    created: datetime
    updated: datetime
    phone: str | None = None

    def to_json(self, base: str, field_keys: list[str]) -> dict[str, Any]:
        """Every defined user field is present, unset ones as null (as Zendesk does)."""
        return {
            "id": self.id, "url": f"{base}/api/v2/users/{self.id}.json", "name": self.name,
            "email": self.email, "created_at": iso(self.created),
            "updated_at": iso(self.updated),
            "time_zone": data.RAILS_TIME_ZONES.get(self.iana_time_zone, self.iana_time_zone),
            "iana_time_zone": self.iana_time_zone, "phone": self.phone, "shared_phone_number": None,
            "photo": None, "locale_id": data.LOCALE_IDS.get(self.locale, 1),
            "locale": self.locale, "organization_id": self.organization_id, "role": self.role,
            "verified": self.email is not None, "external_id": None, "tags": list(self.tags),
            "alias": "", "active": True, "shared": False, "shared_agent": False,
            "last_login_at": None, "two_factor_auth_enabled": False, "signature": None,
            "details": "", "notes": "", "role_type": None, "custom_role_id": None,
            "moderator": self.role != "end-user", "ticket_restriction": (
                "requested" if self.role == "end-user" else None),
            "only_private_comments": False, "restricted_agent": self.role == "end-user",
            "suspended": False, "default_group_id": None, "report_csv": False,
            "user_fields": {k: self.user_fields.get(k) for k in field_keys},
        }


@dataclass
class Ticket:
    id: int
    subject: str
    description: str
    status: str
    requester_id: int | None
    assignee_id: int | None
    organization_id: int | None
    group_id: int | None
    brand_id: int
    tags: list[str]
    created: datetime
    updated: datetime
    seq: int
    """Position in the change stream the incremental export reads (bumped on every change)."""
    status_updated: datetime
    solved_at: datetime | None = None
    reopens: int = 0
    replies: int = 0
    comments: list[dict[str, Any]] = field(default_factory=list)
    external_id: str | None = None
    followup_source_id: int | None = None  # via_followup_source_id at create time
    followup_ids: list[int] = field(default_factory=list)
    custom_fields: dict[int, Any] = field(default_factory=dict)
    """Custom ticket field id -> value; every custom field of the account, None when unset."""

    def to_json(self, base: str) -> dict[str, Any]:
        custom = [{"id": fid, "value": value} for fid, value in self.custom_fields.items()]
        return {
            "id": self.id, "url": f"{base}/api/v2/tickets/{self.id}.json",
            "external_id": self.external_id, "via": self._via(),
            "created_at": iso(self.created), "updated_at": iso(self.updated),
            "generated_timestamp": int(self.updated.timestamp()),
            "type": None, "subject": self.subject, "raw_subject": self.subject,
            "description": self.description, "priority": None, "status": self.status,
            "recipient": None, "requester_id": self.requester_id,
            "submitter_id": self.requester_id, "assignee_id": self.assignee_id,
            "organization_id": self.organization_id, "group_id": self.group_id,
            "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [],
            "forum_topic_id": None, "problem_id": None, "has_incidents": False,
            "is_public": True, "due_at": None, "tags": list(self.tags), "custom_fields": custom,
            "satisfaction_rating": None, "sharing_agreement_ids": [],
            "custom_status_id": None, "fields": [dict(f) for f in custom],
            "followup_ids": list(self.followup_ids),
            "brand_id": self.brand_id, "allow_channelback": False, "allow_attachments": True,
            "from_messaging_channel": False,
        }

    def _via(self) -> dict[str, Any]:
        if self.followup_source_id is not None:
            return {"channel": "api", "source": {
                "from": {"ticket_id": self.followup_source_id}, "to": {}, "rel": "follow_up"}}
        return {"channel": "email", "source": {"from": {}, "to": {}, "rel": None}}

    def metric_set(self, base: str) -> dict[str, Any]:
        """The ticket's metric set (what include=metric_sets sideloads)."""
        first_reply = next((c["created_at"] for c in self.comments
                            if c["author_id"] != self.requester_id and c["public"]), None)
        return {
            "id": self.id + 900_000_000,
            "url": f"{base}/api/v2/ticket_metrics/{self.id + 900_000_000}.json",
            "ticket_id": self.id, "created_at": iso(self.created),
            "updated_at": iso(self.updated), "group_stations": 1, "assignee_stations": 1,
            "reopens": self.reopens, "replies": self.replies,
            "assignee_updated_at": None, "requester_updated_at": iso(self.created),
            "status_updated_at": iso(self.status_updated),
            "initially_assigned_at": iso(self.created) if self.assignee_id else None,
            "assigned_at": iso(self.created) if self.assignee_id else None,
            "solved_at": iso(self.solved_at) if self.solved_at else None,
            "latest_comment_added_at": (iso(self.comments[-1]["created_at"])
                                        if self.comments else None),
            "reply_time_in_minutes": _minutes(self.created, first_reply),
            "first_resolution_time_in_minutes": _minutes(self.created, self.solved_at),
            "full_resolution_time_in_minutes": _minutes(self.created, self.solved_at),
            "agent_wait_time_in_minutes": {"calendar": 0, "business": 0},
            "requester_wait_time_in_minutes": {"calendar": 0, "business": 0},
            "on_hold_time_in_minutes": {"calendar": 0, "business": 0},
        }


def comment_json(comment: dict[str, Any]) -> dict[str, Any]:
    """A stored comment as the comments API shows it."""
    return {"id": comment["id"], "type": "Comment", "author_id": comment["author_id"],
            "body": comment["body"], "html_body": f"<p>{comment['body']}</p>",
            "plain_body": comment["body"], "public": comment["public"],
            "attachments": [], "created_at": iso(comment["created_at"])}
