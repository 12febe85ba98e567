"""The CRM side of a sandbox run: people, tickets that close, and what the daemon wrote back.

`closedloop demo` and the end-to-end tests drive a sandbox CRM the same way: start it, make a
contact (HubSpot) or user (Zendesk), close a ticket for them, read their record afterwards.
One class per CRM keeps those steps, and the config a source needs to reach the sandbox, in one
place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.hubspot import seed as hubspot_seed
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.sandbox.zendesk import seed as zendesk_seed

SANDBOX_TOKEN = "sandbox-token"  # noqa: S105 (the sandboxes' published demo token)
# A contact's language as Zendesk spells it (a locale).
ZENDESK_LOCALES = {"en": "en-US", "fr": "fr", "nb": "nb", "de": "de", "es": "es"}


S = TypeVar("S", HubSpotSandbox, ZendeskSandbox)


class _Side(Generic[S]):
    """What both sides share: the running sandbox and its call counters."""

    sandbox: S

    def __enter__(self) -> Any:
        self.sandbox.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.stop()

    def calls_by_endpoint(self) -> dict[str, int]:
        """The sandbox's calls per "METHOD /path-template"."""
        return dict(self.sandbox.calls)

    def total_calls(self) -> int:
        return self.sandbox.total_calls()

    def reset_calls(self) -> None:
        self.sandbox.reset_calls()


class HubSpotSide(_Side[HubSpotSandbox]):
    name, label = "hubspot", "HubSpot"

    def __init__(self, state: HubSpotState, token: str = SANDBOX_TOKEN,
                 **limits: Any) -> None:
        self.state, self.token = state, token
        self.sandbox = HubSpotSandbox(state, token=token, **limits)
        self.queues = {"support": "0", "billing": "5"}  # pipelines

    def source(self, start_at: datetime) -> dict[str, Any]:
        """The [sources.hubspot] table that reaches this sandbox."""
        return {"crm": "hubspot", "base_url": self.sandbox.url, "start_at": start_at.isoformat()}

    @staticmethod
    def segments() -> dict[str, str]:
        """[reporting.segments] for the sandbox's region (contact) and store (ticket)."""
        return {"region": f"contact.{hubspot_seed.REGION_PROPERTY}",
                "store": f"ticket.{hubspot_seed.STORE_PROPERTY}"}

    def create_contact(self, email: str | None, first: str = "Ada", language: str = "en",
                       timezone: str | None = None, last: str = "Doe",
                       region: str | None = None, phone: str | None = None) -> str:
        return self.state.create_contact(email, first, last, language, timezone=timezone,
                                         region=region, mobilephone=phone)

    def close_new_ticket(self, contact: str, queue: str, at: datetime, *,
                         subject: str = "Printer on fire", owner_id: str | None = None,
                         team_id: str | None = None, store: str | None = None) -> str:
        """A ticket in pipeline `queue` for `contact` (about `store`), closed at `at`."""
        ticket = self.state.create_ticket(subject, contact, pipeline=queue, owner_id=owner_id,
                                          team_id=team_id, store=store)
        self.state.close_ticket(ticket, at=at)
        return ticket

    def values(self, contact: str) -> dict[str, Any]:
        """The contact's properties as the sandbox holds them."""
        return dict(self.state.contact(contact)["properties"])


class ZendeskSide(_Side[ZendeskSandbox]):
    name, label = "zendesk", "Zendesk"

    def __init__(self, state: ZendeskState, token: str = SANDBOX_TOKEN,
                 **limits: Any) -> None:
        self.state, self.token = state, token
        self.sandbox = ZendeskSandbox(state, token=token, **limits)
        self.queues = {"support": "1", "billing": "2"}  # brands
        self.group = state.create_group("Support")

    def source(self, start_at: datetime) -> dict[str, Any]:
        """The [sources.zendesk] table that reaches this sandbox."""
        return {"crm": "zendesk", "subdomain": self.sandbox.subdomain,
                "email": self.sandbox.email, "base_url": self.sandbox.url,
                "start_at": start_at.isoformat()}

    @staticmethod
    def segments() -> dict[str, str]:
        """[reporting.segments] for the sandbox's region (user field) and store (ticket
        field, by id)."""
        return {"region": f"contact.{zendesk_seed.REGION_FIELD}",
                "store": f"ticket.{zendesk_seed.STORE_FIELD_ID}"}

    def create_contact(self, email: str | None, first: str = "Ada", language: str = "en",
                       timezone: str | None = None, last: str = "Doe",
                       region: str | None = None, phone: str | None = None) -> str:
        """A user; `region` is set in the `region` user field (made first if missing), as
        the account held it, not as an API write."""
        user = self.state.create_user(email, f"{first} {last}".strip(),
                                      locale=ZENDESK_LOCALES.get(language, language),
                                      time_zone=timezone or "UTC", phone=phone)
        if region is not None:
            with self.state.lock:
                if zendesk_seed.REGION_FIELD not in self.state.fields:
                    spec = next(f for f in zendesk_seed.USER_FIELDS
                                if f["key"] == zendesk_seed.REGION_FIELD)
                    self.state.create_user_field(spec)
                self.state.users[int(user)].user_fields[zendesk_seed.REGION_FIELD] = region
        return user

    def close_new_ticket(self, contact: str, queue: str, at: datetime, *,
                         subject: str = "Printer on fire", store: str | None = None) -> str:
        """A ticket in brand `queue` for `contact` (about `store`: the Store field, made
        first if missing), in the Support group, solved at `at`."""
        fields: dict[int, Any] = {}
        if store is not None:
            with self.state.lock:
                if zendesk_seed.STORE_FIELD_ID not in self.state.ticket_fields.defs:
                    self.state.create_ticket_field(zendesk_seed.STORE_FIELD_ID, "Store",
                                                   zendesk_seed.STORE_OPTIONS)
            fields[zendesk_seed.STORE_FIELD_ID] = store
        ticket = self.state.create_ticket(subject, contact, brand_id=queue, group_id=self.group,
                                          created_at=at - timedelta(hours=1),
                                          custom_fields=fields)
        self.state.solve_ticket(ticket, at=at)
        return ticket

    def values(self, contact: str) -> dict[str, Any]:
        """The user's fields as the sandbox holds them."""
        return dict(self.state.user(contact).get("user_fields") or {})
