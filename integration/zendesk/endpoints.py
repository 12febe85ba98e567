"""Every Zendesk HTTP path the adapter uses, in one table.

The names key the per-endpoint call counts (`ZendeskAdapter.calls_by_endpoint()`), the
retry log events and the tests, which check that the adapter calls nothing else. Counting
happens in the HTTP session, so zenpy's own paging requests are counted too.
"""

from __future__ import annotations

import re
from typing import Final

ENDPOINTS: Final[dict[str, str]] = {
    "users_me": "GET /api/v2/users/me.json",
    "incremental_tickets": "GET /api/v2/incremental/tickets/cursor.json",
    "tickets_show_many": "GET /api/v2/tickets/show_many.json",
    "tickets_update_many": "PUT /api/v2/tickets/update_many.json",
    "tickets_create_many": "POST /api/v2/tickets/create_many.json",
    "tickets_by_external_id": "GET /api/v2/tickets.json",
    "ticket_comments": "GET /api/v2/tickets/{id}/comments.json",
    "comment_redactions": "PUT /api/v2/comment_redactions/{id}",
    "users_show_many": "GET /api/v2/users/show_many.json",
    "users_update_many": "PUT /api/v2/users/update_many.json",
    "job_statuses_show_many": "GET /api/v2/job_statuses/show_many.json",
    "user_fields": "GET /api/v2/user_fields.json",
    "user_field_create": "POST /api/v2/user_fields.json",
    "ticket_fields": "GET /api/v2/ticket_fields.json",
    "organization_users": "GET /api/v2/organizations/{id}/users.json",
    "search_export": "GET /api/v2/search/export.json",
    "webhooks": "GET /api/v2/webhooks",
    "webhook_create": "POST /api/v2/webhooks",
    "webhook_secret": "GET /api/v2/webhooks/{id}/signing_secret",
    "triggers": "GET /api/v2/triggers.json",
    "trigger_create": "POST /api/v2/triggers.json",
    # after the update_many paths, which these patterns would match too
    "user_update": "PUT /api/v2/users/{id}.json",
    "ticket_update": "PUT /api/v2/tickets/{id}.json",
}

_PATTERNS: Final[list[tuple[str, str, re.Pattern[str]]]] = [
    (name, spec.split(" ", 1)[0],
     re.compile("^" + re.escape(spec.split(" ", 1)[1]).replace(r"\{id\}", r"[^/]+") + "$"))
    for name, spec in ENDPOINTS.items()
]


def endpoint_of(method: str, path: str) -> str:
    """The endpoint name of one request; unknown ones are named "METHOD /path"."""
    upper = method.upper()
    for name, verb, pattern in _PATTERNS:
        if verb == upper and pattern.match(path):
            return name
    return f"{upper} {path}"
