"""The sandbox's workflows: the "Send a webhook" action of a contact-based HubSpot workflow.

A workflow is built in HubSpot's editor, not by API, so tests and the demo make one here
(`sandbox.workflows.add(url, body=...)`) and play its enrollment trigger themselves
(`enroll(workflow_id, contact_id)`, as "deal closed won" or "onboarding finished" would).
Each enrollment POSTs once, signed v3 like HubSpot's app requests: base64 HMAC-SHA256 of
method + URI + body + X-HubSpot-Request-Timestamp keyed with the app's client secret.

The body is the action's customised request body when given (key -> text, where
"{{contact.id}}" and "{{contact.<property>}}" are filled in from the contact), or else the
enrolled record: {"objectId", "objectType": "CONTACT", "properties": {name: value}} (the
sandbox's approximation of HubSpot's default body).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._notify import Build, Notifier
from .state import HubSpotState
from .webhooks import CLIENT_SECRET, signed_headers

_PLACEHOLDER = re.compile(r"\{\{contact\.([a-z0-9_]+)\}\}")


@dataclass(frozen=True)
class Workflow:
    id: int
    url: str
    body: Mapping[str, str] | None  # None: the default body (the enrolled record)
    build: Build = field(repr=False, compare=False)


class HubSpotWorkflows:
    """Workflows with a "Send a webhook" action, and the calls their enrollments make."""

    def __init__(self, state: HubSpotState, notifier: Notifier | None = None,
                 client_secret: str = CLIENT_SECRET) -> None:
        self.state = state
        self.notifier = notifier or Notifier(batch=1)
        self.client_secret = client_secret
        self._workflows: dict[int, Workflow] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, url: str, *, body: Mapping[str, str] | None = None,
            client_secret: str | None = None) -> int:
        """A workflow whose action POSTs to `url` (its query string is signed too)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http(s), not {url!r}")
        with self._lock:
            if client_secret is not None:
                self.client_secret = client_secret
            flow = Workflow(next(self._ids), url, dict(body) if body is not None else None,
                            _one_object(url, self.client_secret))
            self._workflows[flow.id] = flow
            return flow.id

    def workflow(self, workflow_id: int) -> Workflow:
        """A workflow by id (its `build` signs a call again: a test's HubSpot retry)."""
        with self._lock:
            return self._workflows[workflow_id]

    def latest(self) -> int:
        """The id of the workflow added last (KeyError when there is none)."""
        with self._lock:
            if not self._workflows:
                raise KeyError("no workflow")
            return max(self._workflows)

    def enroll(self, workflow_id: int, contact_id: str) -> None:
        """The contact met the enrollment trigger: the action's webhook is sent (queued)."""
        with self._lock:
            flow = self._workflows[workflow_id]
        record = self.state.contacts[contact_id]
        props: dict[str, Any] = dict(record.props)
        if flow.body is None:
            payload: Any = {"objectId": int(contact_id), "objectType": "CONTACT",
                            "properties": {k: v for k, v in props.items() if v is not None}}
        else:
            payload = {key: _fill(text, contact_id, props) for key, text in flow.body.items()}
        self.notifier.send(flow.url, flow.build, payload)

    def flush(self, timeout: float = 10.0) -> bool:
        return self.notifier.flush(timeout)


def _fill(text: str, contact_id: str, props: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = contact_id if name == "id" else props.get(name)
        return "" if found is None else str(found)
    return _PLACEHOLDER.sub(value, text)


def _one_object(target_url: str, client_secret: str) -> Build:
    """A workflow call carries one JSON object (not the subscriptions' batch array)."""
    def build(events: list[Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(events[0]).encode()
        return body, {**signed_headers(target_url, client_secret, body),
                      "Content-Type": "application/json"}
    return build
