"""The endpoint table: every Support API path the sandbox serves, as zenpy 2.0.57 calls it.

Kept as data, like the HubSpot sandbox's table, so adding an endpoint is one line here.
"""

from __future__ import annotations

from . import redactions, search, ticket_handlers, user_handlers, webhooks
from .routing import Route, Router

_API = "/api/v2"

ROUTES: list[Route] = [
    Route("GET", f"{_API}/incremental/tickets/cursor.json", ticket_handlers.incremental,
          kind="incremental"),
    Route("GET", f"{_API}/tickets.json", ticket_handlers.list_tickets),
    Route("GET", f"{_API}/tickets/show_many.json", ticket_handlers.show_many),
    Route("POST", f"{_API}/tickets/create_many.json", ticket_handlers.create_many),
    Route("PUT", f"{_API}/tickets/update_many.json", ticket_handlers.update_many),
    Route("GET", f"{_API}/tickets/{{id}}.json", ticket_handlers.show),
    Route("PUT", f"{_API}/tickets/{{id}}.json", ticket_handlers.update),
    Route("GET", f"{_API}/tickets/{{id}}/comments.json", ticket_handlers.comments),
    Route("PUT", f"{_API}/comment_redactions/{{id}}", redactions.comment_redaction),
    Route("GET", f"{_API}/tickets/{{id}}/tags.json", ticket_handlers.tags_show),
    Route("PUT", f"{_API}/tickets/{{id}}/tags.json", ticket_handlers.tags_add),
    Route("POST", f"{_API}/tickets/{{id}}/tags.json", ticket_handlers.tags_add),
    Route("DELETE", f"{_API}/tickets/{{id}}/tags.json", ticket_handlers.tags_add),
    Route("GET", f"{_API}/users/me.json", user_handlers.me),
    Route("GET", f"{_API}/users/show_many.json", user_handlers.show_many),
    Route("PUT", f"{_API}/users/update_many.json", user_handlers.update_many),
    Route("GET", f"{_API}/users/{{id}}.json", user_handlers.show),
    Route("PUT", f"{_API}/users/{{id}}.json", user_handlers.update),
    Route("GET", f"{_API}/job_statuses/show_many.json", user_handlers.job_statuses_show_many),
    Route("GET", f"{_API}/job_statuses/{{id}}.json", user_handlers.job_status),
    Route("GET", f"{_API}/user_fields.json", user_handlers.fields),
    Route("GET", f"{_API}/ticket_fields.json", ticket_handlers.ticket_fields),
    Route("POST", f"{_API}/user_fields.json", user_handlers.field_create),
    Route("GET", f"{_API}/organizations/show_many.json", user_handlers.orgs_show_many),
    Route("GET", f"{_API}/organizations/{{id}}.json", user_handlers.org_show),
    Route("GET", f"{_API}/organizations/{{id}}/users.json", user_handlers.org_users),
    Route("GET", f"{_API}/groups/{{id}}.json", user_handlers.group_show),
    Route("GET", f"{_API}/search.json", search.search),
    Route("GET", f"{_API}/search/export.json", search.export, kind="export"),
    Route("GET", f"{_API}/webhooks", webhooks.webhooks_list),
    Route("POST", f"{_API}/webhooks", webhooks.webhook_create),
    Route("GET", f"{_API}/webhooks/{{id}}/signing_secret", webhooks.webhook_secret),
    Route("GET", f"{_API}/triggers.json", webhooks.triggers_list),
    Route("POST", f"{_API}/triggers.json", webhooks.trigger_create),
]

ROUTER = Router(ROUTES)
