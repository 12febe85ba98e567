"""Webhooks and triggers of the sandbox account: `POST /api/v2/webhooks`, its signing secret,
`POST /api/v2/triggers`, and the calls a trigger's "notify webhook" action makes.

Zendesk runs triggers on ticket updates; the sandbox evaluates them when a ticket's status
changes, for the conditions ClosedLoop's setup uses (status is / changed / changed to a
value; current_tags includes / not_includes, space-separated tags; any other condition never
matches). The action's body is the trigger's JSON text with {{ticket.id}}, {{ticket.status}},
{{ticket.url}} and {{ticket.requester.id}} filled in, sent signed as Zendesk
signs: X-Zendesk-Webhook-Signature = base64 HMAC-SHA256 of the signature timestamp + body,
keyed with the webhook's signing secret, with X-Zendesk-Webhook-Id and -Invocation-Id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._notify import Build, Notifier
from .bodies import enveloped
from .errors import invalid_value, not_found, record_invalid
from .routing import Context, Request, Response
from .values import iso, now


@dataclass
class Automation:
    """The account's webhooks (by id) and triggers (in creation order)."""

    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    notifier: Notifier = field(default_factory=lambda: Notifier(batch=1))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _invocations: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def drop_next(self, n: int) -> None:
        """Lose the next `n` webhook calls (a lost notification)."""
        self.notifier.drop_next(n)

    def signer(self, hook_id: str, invocation: str) -> Build:
        """Signs a call of webhook `hook_id` as invocation `invocation` (a test's retry)."""
        return _builder(hook_id, self.secrets[hook_id], invocation)

    def status_changed(self, ticket_json: Callable[[], dict[str, Any]], before: str,
                       after: str) -> None:
        """Run the active triggers whose conditions hold for this status change."""
        with self.lock:
            ticket = ticket_json()
            firing = [t for t in self.triggers if t.get("active", True)
                      and _holds(t.get("conditions") or {}, before, after,
                                 ticket.get("tags") or [])]
            if not firing:
                return
            for trigger in firing:
                for action in trigger.get("actions") or []:
                    self._notify(action, ticket)

    def _notify(self, action: Any, ticket: dict[str, Any]) -> None:
        if not isinstance(action, dict) or action.get("field") != "notification_webhook":
            return
        value = action.get("value")
        if not isinstance(value, list) or len(value) != 2:
            return
        hook = self.webhooks.get(str(value[0]))
        if hook is None or hook.get("status") != "active":
            return
        text = str(value[1])
        for key, val in (("{{ticket.id}}", ticket["id"]), ("{{ticket.status}}", ticket["status"]),
                         ("{{ticket.url}}", ticket.get("url", "")),
                         ("{{ticket.requester.id}}", ticket.get("requester_id") or "")):
            text = text.replace(key, str(val))
        invocation = f"{next(self._invocations):08d}"
        self.notifier.send(hook["endpoint"], _builder(hook["id"], self.secrets[hook["id"]],
                                                      invocation), text)


def _builder(hook_id: str, secret: str, invocation: str) -> Build:
    def build(events: list[Any]) -> tuple[bytes, dict[str, str]]:
        body = str(events[0]).encode()
        stamp = iso(now())
        signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body,
                                              hashlib.sha256).digest()).decode()
        return body, {"X-Zendesk-Webhook-Id": hook_id,
                      "X-Zendesk-Webhook-Invocation-Id": invocation,
                      "X-Zendesk-Webhook-Signature": signature,
                      "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                      "User-Agent": "Zendesk Webhook"}
    return build


def _holds(conditions: dict[str, Any], before: str, after: str, tags: list[str]) -> bool:
    changed = before != after
    tests: dict[str, Callable[[Any], bool]] = {
        "is": lambda v: after == v, "is_not": lambda v: after != v,
        "changed": lambda v: changed, "value": lambda v: changed and after == v,
        "value_previous": lambda v: changed and before == v}
    has = set(tags)
    tag_tests: dict[str, Callable[[Any], bool]] = {
        "includes": lambda v: bool(set(str(v).split()) & has),
        "not_includes": lambda v: not set(str(v).split()) & has}

    def one(cond: Any) -> bool:
        if not isinstance(cond, dict) or cond.get("field") not in ("status", "current_tags"):
            return False
        table = tests if cond["field"] == "status" else tag_tests
        test = table.get(str(cond.get("operator")))
        return bool(test and test(cond.get("value")))

    all_of, any_of = conditions.get("all") or [], conditions.get("any") or []
    return all(one(c) for c in all_of) and (not any_of or any(one(c) for c in any_of)) \
        and bool(all_of or any_of)


def _automation(ctx: Context) -> Automation:
    found: Automation | None = getattr(ctx.state, "automation", None)
    if found is None:
        raise not_found()
    return found


# ------------------------------------------------------------------ routes
def webhooks_list(ctx: Context, req: Request) -> Response:
    """GET webhooks (filter[name_contains] supported), cursor-paged as Zendesk does."""
    auto = _automation(ctx)
    name = (req.arg("filter[name_contains]") or "").lower()
    with auto.lock:
        found = [dict(h) for h in auto.webhooks.values() if name in h["name"].lower()]
    return Response(200, {"webhooks": found, "meta": {"has_more": False, "after_cursor": None,
                                                      "before_cursor": None},
                          "links": {"next": None, "prev": None}})


def webhook_create(ctx: Context, req: Request) -> Response:
    auto = _automation(ctx)
    body = enveloped(req, "webhook")
    if not isinstance(body, dict):
        raise invalid_value("webhook must be an object")
    for key in ("name", "endpoint", "http_method", "request_format", "status", "subscriptions"):
        if not body.get(key):
            raise record_invalid(key, f"{key} is required")
    if not str(body["endpoint"]).startswith(("http://", "https://")):
        raise record_invalid("endpoint", "endpoint must be an http(s) URL")
    with auto.lock:
        hook_id = f"01SANDBOX{next(auto._ids):017d}"
        at = iso(now())
        hook = {"id": hook_id, "name": str(body["name"]), "endpoint": str(body["endpoint"]),
                "http_method": body["http_method"], "request_format": body["request_format"],
                "status": body["status"], "subscriptions": list(body["subscriptions"]),
                "created_at": at, "updated_at": at, "created_by": str(ctx.me_id)}
        auto.webhooks[hook_id] = hook
        auto.secrets[hook_id] = secrets.token_urlsafe(32)
    return Response(201, {"webhook": dict(hook)})


def webhook_secret(ctx: Context, req: Request) -> Response:
    auto = _automation(ctx)
    with auto.lock:
        secret = auto.secrets.get(req.params["id"])
    if secret is None:
        raise not_found()
    return Response(200, {"signing_secret": {"algorithm": "SHA256", "secret": secret}})


def triggers_list(ctx: Context, req: Request) -> Response:
    auto = _automation(ctx)
    with auto.lock:
        found = [dict(t) for t in auto.triggers]
    return Response(200, {"triggers": found, "next_page": None, "previous_page": None,
                          "count": len(found)})


def trigger_create(ctx: Context, req: Request) -> Response:
    auto = _automation(ctx)
    body = enveloped(req, "trigger")
    if not isinstance(body, dict) or not body.get("title"):
        raise record_invalid("title", "Title: cannot be blank")
    if not isinstance(body.get("actions"), list) or not body["actions"]:
        raise record_invalid("actions", "Actions: cannot be blank")
    if not isinstance(body.get("conditions"), dict):
        raise record_invalid("conditions", "Conditions: must be an object")
    for action in body["actions"]:
        value = action.get("value") if isinstance(action, dict) else None
        if isinstance(action, dict) and action.get("field") == "notification_webhook" \
                and (not isinstance(value, list) or len(value) != 2):
            raise record_invalid("actions", "notification_webhook needs [webhook id, body]")
    with auto.lock:
        at = iso(now())
        trigger_id = 360_000_000 + next(auto._ids)
        trigger = {"id": trigger_id, "title": str(body["title"]),
                   "active": bool(body.get("active", True)), "conditions": body["conditions"],
                   "actions": body["actions"], "description": body.get("description"),
                   "position": len(auto.triggers) + 1, "created_at": at, "updated_at": at,
                   "url": req.api_url(f"triggers/{trigger_id}.json")}
        auto.triggers.append(trigger)
    return Response(201, {"trigger": dict(trigger)})
