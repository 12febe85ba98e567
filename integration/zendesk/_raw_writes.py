"""The hot writes as plain JSON bodies on the adapter's own session, without zenpy's objects.

zenpy turns every change into objects (User, Ticket, Comment), serialises them through its
dirty-attribute tracking and parses the answer back into objects (a user, a ticket with its
audit, a job status) that the adapter only reads as a dict: 0.2 to 0.5 ms of CPU per record.
The writes made for every surveyed ticket go here instead, as the same requests zenpy sent
(method, path, and body: `{"user": {...}}` for one record, `{"users": [...]}` for
update_many, the same keys, `additional_tags` so tags are added, never replaced), through
the same counting, pacing session (its auth, its 429 handling) and the same error mapping
(`http_error`, named by endpoints.ENDPOINTS). Setup, erasure and rare reads stay on zenpy.

One difference, on purpose: a 2xx answer that is not a JSON object (a proxy's page, a cut
body) is a TransientError, as for the reads. zenpy took a 200 of any body as done, so a
login page in front of Zendesk marked a record written that never reached it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

from closedloop.integration.errors import TransientError
from closedloop.integration.zendesk._raw import json_object
from closedloop.integration.zendesk.endpoints import ENDPOINTS

Change = dict[str, Any]
"""One record's change as Zendesk's JSON has it: {"id": 5, "user_fields": {...}}, or a
ticket's {"id": 7, "additional_tags": [...], "comment": {"body": ..., "public": false}}."""


class RawWriter:
    """PUTs and POSTs of JSON changes; each answers the JSON object Zendesk sent (no retry
    of its own: the caller's `call` decides)."""

    def __init__(self, session: requests.Session, base_url: str,
                 timeout: tuple[float, float]) -> None:
        self._session, self._base, self._timeout = session, base_url.rstrip("/"), timeout

    def send(self, endpoint: str, body: Mapping[str, Any],
             record_id: Any = None) -> dict[str, Any]:
        """One request to `endpoint` (a key of ENDPOINTS; `record_id` fills its {id}); a
        non-2xx answer raises its mapped error, a body that is not a JSON object a
        TransientError."""
        method, path = ENDPOINTS[endpoint].split(" ", 1)
        if record_id is not None:
            path = path.replace("{id}", str(record_id))
        response = self._session.request(method, self._base + path, json=body,
                                         timeout=self._timeout)
        return json_object(response, endpoint)

    def job(self, endpoint: str, key: str, changes: Sequence[Change]) -> dict[str, Any]:
        """Submit one background job (update_many, create_many): its job status."""
        status = self.send(endpoint, {key: list(changes)}).get("job_status")
        if not isinstance(status, dict):
            raise TransientError(f"Zendesk {endpoint} answered without a job status")
        return status

    def update_users(self, changes: Change | Sequence[Change]) -> dict[str, Any]:
        """PUT users/{id}.json for one change (the user), users/update_many.json for a list
        (the job status), as zenpy's `users.update` chose by the argument's type."""
        if isinstance(changes, dict):
            return self.send("user_update", {"user": changes}, changes["id"])
        return self.job("users_update_many", "users", changes)

    def update_tickets(self, changes: Change | Sequence[Change]) -> dict[str, Any]:
        """PUT tickets/{id}.json for one change (ticket and audit), tickets/update_many.json
        for a list (the job status)."""
        if isinstance(changes, dict):
            return self.send("ticket_update", {"ticket": changes}, changes["id"])
        return self.job("tickets_update_many", "tickets", changes)

    def create_tickets(self, changes: Sequence[Change]) -> dict[str, Any]:
        """POST tickets/create_many.json: the job status (the new ids come in its results)."""
        return self.job("tickets_create_many", "tickets", changes)


def without_nulls(change: Mapping[str, Any]) -> Change:
    """A change without its top-level None values: zenpy never sent an attribute left
    None (a follow-up without assignee or group lets Zendesk decide)."""
    return {k: v for k, v in change.items() if v is not None}
