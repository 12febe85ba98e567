"""Every HubSpot HTTP path the adapter uses, in one table.

HubSpot is moving to date-versioned paths (v4 unsupported from March 2027, v1-v3 from
September 2027): this table is the one place that lists what has to move, it names the
endpoints in call counts and logs, and the tests check that the adapter calls nothing else.
"""

from __future__ import annotations

from typing import Final

ENDPOINTS: Final[dict[str, str]] = {
    "pipelines": "GET /crm/v3/pipelines/tickets",
    "tickets_search": "POST /crm/v3/objects/tickets/search",
    "ticket_contacts": "POST /crm/v4/associations/tickets/contacts/batch/read",
    "contacts_read": "POST /crm/v3/objects/contacts/batch/read",
    "contacts_update": "POST /crm/v3/objects/contacts/batch/update",
    "tickets_read": "POST /crm/v3/objects/tickets/batch/read",
    "tickets_update": "POST /crm/v3/objects/tickets/batch/update",
    "notes_create": "POST /crm/v3/objects/notes/batch/create",
    "ticket_notes": "POST /crm/v4/associations/tickets/notes/batch/read",
    "notes_read": "POST /crm/v3/objects/notes/batch/read",
    "notes_archive": "POST /crm/v3/objects/notes/batch/archive",
    "tasks_create": "POST /crm/v3/objects/tasks/batch/create",
    "tasks_update": "POST /crm/v3/objects/tasks/batch/update",
    "tasks_read": "POST /crm/v3/objects/tasks/batch/read",
    "contact_tasks": "POST /crm/v4/associations/contacts/tasks/batch/read",
    "list_read": "GET /crm/v3/lists/{listId}",
    "list_memberships": "GET /crm/v3/lists/{listId}/memberships",
    "contact_properties": "GET /crm/v3/properties/contacts",
    "contact_property_create": "POST /crm/v3/properties/contacts",
    "contact_group_create": "POST /crm/v3/properties/contacts/groups",
    "ticket_properties": "GET /crm/v3/properties/tickets",
    "ticket_property_create": "POST /crm/v3/properties/tickets",
    "ticket_group_create": "POST /crm/v3/properties/tickets/groups",
    "token_info": "POST /oauth/v2/private-apps/get/access-token-info",
}


def path_of(endpoint: str) -> str:
    """The path part of an endpoint ("/crm/v3/..."), for calls made without the SDK."""
    return ENDPOINTS[endpoint].split(" ", 1)[1]
