"""The endpoint table: every path the sandbox serves, as hubspot-api-client 12 calls it.

Kept as data (like the adapter's own path table) so a move to HubSpot's date-versioned
paths is one edit here.
"""

from __future__ import annotations

from . import (
    admin,
    associations,
    crm_handlers,
    list_handlers,
    note_handlers,
    schema_handlers,
    task_handlers,
    webhooks,
)
from .routing import Route, Router

_TICKETS = ("tickets",)
_CONTACTS_READ = ("crm.objects.contacts.read",)
_CONTACTS_WRITE = ("crm.objects.contacts.write",)
_LISTS_READ = ("crm.lists.read",)
_SCHEMA_SCOPES = {
    "contacts": (("crm.schemas.contacts.read",), ("crm.schemas.contacts.write",)),
    "tickets": (_TICKETS, _TICKETS),
}


def _property_routes() -> list[Route]:
    routes = []
    for obj, (read, write) in _SCHEMA_SCOPES.items():
        base = f"/crm/v3/properties/{obj}"
        routes += [
            Route("GET", base, schema_handlers.properties, scopes=read),
            Route("POST", base, schema_handlers.property_create, scopes=write),
            Route("GET", f"{base}/{{name}}", schema_handlers.property_by_name, scopes=read),
            Route("GET", f"{base}/groups", schema_handlers.groups, scopes=read),
            Route("POST", f"{base}/groups", schema_handlers.group_create, scopes=write),
            Route("GET", f"{base}/groups/{{name}}", schema_handlers.group_by_name, scopes=read),
        ]
    return routes


ROUTES: list[Route] = [
    Route("GET", "/crm/v3/pipelines/tickets", schema_handlers.pipelines, scopes=_TICKETS),
    Route("GET", "/crm/v3/pipelines/tickets/{pipelineId}", schema_handlers.pipeline,
          scopes=_TICKETS),
    Route("POST", "/crm/v3/objects/tickets/search", crm_handlers.search, kind="search",
          scopes=_TICKETS),
    Route("POST", "/crm/v4/associations/tickets/contacts/batch/read",
          associations.ticket_contacts_read, scopes=_TICKETS + _CONTACTS_READ),
    Route("POST", "/crm/v3/objects/contacts/batch/read", crm_handlers.contacts_read,
          scopes=_CONTACTS_READ),
    Route("POST", "/crm/v3/objects/contacts/batch/update", crm_handlers.contacts_update,
          scopes=_CONTACTS_WRITE),
    Route("POST", "/crm/v3/objects/tickets/batch/read", crm_handlers.tickets_read,
          scopes=_TICKETS),
    Route("POST", "/crm/v3/objects/tickets/batch/update", crm_handlers.tickets_update,
          scopes=_TICKETS),
    # crm-notes-v3 asks crm.objects.contacts.write for notes batch create.
    Route("POST", "/crm/v3/objects/notes/batch/create", note_handlers.notes_create,
          scopes=_CONTACTS_WRITE),
    Route("POST", "/crm/v3/objects/notes/batch/read", note_handlers.notes_read,
          scopes=_CONTACTS_READ),
    Route("POST", "/crm/v3/objects/notes/batch/archive", note_handlers.notes_archive,
          scopes=_CONTACTS_WRITE),
    Route("POST", "/crm/v4/associations/tickets/notes/batch/read",
          note_handlers.ticket_notes_read, scopes=_TICKETS),
    # crm-tasks-v3 asks crm.objects.contacts.write (create, update) / .read (read).
    Route("POST", "/crm/v3/objects/tasks/batch/create", task_handlers.tasks_create,
          scopes=_CONTACTS_WRITE),
    Route("POST", "/crm/v3/objects/tasks/batch/update", task_handlers.tasks_update,
          scopes=_CONTACTS_WRITE),
    Route("POST", "/crm/v3/objects/tasks/batch/read", task_handlers.tasks_read,
          scopes=_CONTACTS_READ),
    Route("POST", "/crm/v4/associations/contacts/tasks/batch/read",
          task_handlers.contact_tasks_read, scopes=_CONTACTS_READ),
    Route("GET", "/crm/v3/lists/{listId}", list_handlers.list_by_id, scopes=_LISTS_READ),
    Route("GET", "/crm/v3/lists/{listId}/memberships", list_handlers.memberships,
          scopes=_LISTS_READ),
    *_property_routes(),
    Route("POST", "/oauth/v2/private-apps/get/access-token-info",
          schema_handlers.access_token_info, kind="oauth"),
    # The developer app's webhooks (hapikey in HubSpot; unauthenticated here, like /_sandbox/).
    Route("GET", "/webhooks/v3/{appId}/settings", webhooks.settings_get, kind="admin"),
    Route("PUT", "/webhooks/v3/{appId}/settings", webhooks.settings_put, kind="admin"),
    Route("GET", "/webhooks/v3/{appId}/subscriptions", webhooks.subscriptions_list,
          kind="admin"),
    Route("POST", "/webhooks/v3/{appId}/subscriptions", webhooks.subscription_create,
          kind="admin"),
    Route("POST", "/_sandbox/tickets", admin.create_ticket, kind="admin"),
    Route("GET", "/_sandbox/tickets/{id}", admin.get_ticket, kind="admin"),
    Route("POST", "/_sandbox/tickets/{id}/close", admin.close_ticket, kind="admin"),
    Route("POST", "/_sandbox/tickets/{id}/reopen", admin.reopen_ticket, kind="admin"),
    Route("DELETE", "/_sandbox/tickets/{id}", admin.delete_ticket, kind="admin"),
    Route("GET", "/_sandbox/tickets/{id}/notes", admin.ticket_notes, kind="admin"),
    Route("POST", "/_sandbox/lists", admin.create_list, kind="admin"),
    Route("GET", "/_sandbox/contacts/{id}", admin.get_contact, kind="admin"),
]

ROUTER = Router(ROUTES)
