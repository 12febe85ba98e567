"""The webhook job: route new events to endpoints, post the due deliveries, record each try.

One run: route every unrouted event (store.route_events), delete settled events older than
RETENTION (30 days: how far replay reaches), then claim due deliveries with a lease and post
them one by one, each with its endpoint's timeout, signed per the Standard
Webhooks spec (webhook-id = the event id, constant across tries and replays, for dedupe;
webhook-timestamp = this try; webhook-signature over "id.timestamp.body"). The verdict on
each answer comes from policy.py. It runs in its own scheduler job and only ever touches
the webhook tables, so a slow or dead receiver never holds up the write-back of answers.
Logs name the endpoint and the event id: never the URL (it may carry a token), never the
payload (it quotes the person).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from standardwebhooks import Webhook

from closedloop.daemon.actions.webhooks.policy import judge
from closedloop.daemon.config import Config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Delivery, Route, Store, event_id

LEASE = timedelta(minutes=2)
# Settled events (and their deliveries) older than this are deleted: what replay can reach.
RETENTION = timedelta(days=30)
BATCH = 100
USER_AGENT = "ClosedLoop-Webhooks/1"


@dataclass(frozen=True)
class Endpoint:
    """A `[[webhooks]]` endpoint with its secret, ready to post to."""

    name: str
    url: str
    secret: str = field(repr=False)
    kinds: frozenset[str]
    programs: frozenset[str] | None = None
    timeout: float = 10.0

    def route(self) -> Route:
        return Route(self.name, self.kinds, self.programs)


def endpoints_from_config(config: Config, secrets: Secrets) -> list[Endpoint]:
    return [Endpoint(name=hook.name, url=hook.url,
                     secret=secrets.webhook_secrets[hook.name].get_secret_value(),
                     kinds=frozenset(hook.events),
                     programs=None if hook.programs is None else frozenset(hook.programs),
                     timeout=hook.timeout.total_seconds())
            for hook in config.webhooks]


def webhook_body(delivery: Delivery) -> bytes:
    """The posted JSON (Standard Webhooks' recommended shape: type, timestamp, data), in a
    stable byte form, so a replay posts the same bytes."""
    body = {"id": event_id(delivery.event_id), "type": delivery.kind,
            "timestamp": delivery.created_at.isoformat().replace("+00:00", "Z"),
            "data": delivery.payload}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


@dataclass
class DeliveryResult:
    """One run's summary."""

    routed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # claims that ran out before we settled (another replica has the row)
    pruned: int = 0  # settled events past RETENTION, deleted


class WebhookDeliverer:
    """The webhook job of one daemon; `run()` is what the scheduler calls."""

    def __init__(self, store: Store, endpoints: Iterable[Endpoint],
                 clock: Callable[[], datetime],
                 client: Callable[[float], httpx.Client] | None = None) -> None:
        self.store = store
        self.endpoints: Mapping[str, Endpoint] = {e.name: e for e in endpoints}
        self.clock = clock
        self._client = client or _client
        self._signers = {name: Webhook(e.secret) for name, e in self.endpoints.items()}
        self.log = get_logger(job="webhooks")

    def run(self, limit: int = BATCH) -> DeliveryResult:
        result = DeliveryResult()
        routes = [e.route() for e in self.endpoints.values()]
        while routed := self.store.route_events(routes, self.clock()):
            result.routed += routed
        result.pruned = self.store.prune_events(self.clock() - RETENTION)
        if not self.endpoints:
            return result
        claimed = self.store.claim_deliveries(self.clock(), limit, LEASE,
                                              endpoints=list(self.endpoints))
        failing: set[str] = set()
        for delivery in claimed:
            if delivery.endpoint in failing:
                continue  # released below: one unanswered try per endpoint and run
            status, answer, retry_after = self._post(delivery)
            verdict = judge(status, delivery.attempts + 1, self.clock(), retry_after)
            if verdict.status != "delivered" and verdict.reason != "refused":
                failing.add(delivery.endpoint)
            if not self.store.settle_delivery(delivery, self.clock(), status=verdict.status,
                                              http_status=status, error=answer,
                                              retry_at=verdict.retry_at):
                result.lost += 1
                continue
            self._count(result, delivery, verdict.status, verdict.reason, status)
        if failing and claimed:
            self.store.release_deliveries(claimed[0].token)
        if claimed or result.routed:
            self.log.info("webhooks.run", routed=result.routed, delivered=result.delivered,
                          retried=result.retried, dead=result.dead, lost=result.lost)
        return result

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None, str | None]:
        """(HTTP status or None, a short error for last_error, Retry-After header)."""
        endpoint = self.endpoints[delivery.endpoint]
        body = webhook_body(delivery)
        msg_id = event_id(delivery.event_id)
        now = self.clock()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signers[endpoint.name].sign(msg_id, now, body),
        }
        try:
            with self._client(endpoint.timeout) as client:
                answer = client.post(endpoint.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, "timeout", None
        except httpx.HTTPError as exc:
            return None, type(exc).__name__, None
        error = None if answer.is_success else f"HTTP {answer.status_code}"
        return answer.status_code, error, answer.headers.get("retry-after")

    def _count(self, result: DeliveryResult, delivery: Delivery, status: str, reason: str,
               http_status: int | None) -> None:
        where = {"endpoint": delivery.endpoint, "event_id": event_id(delivery.event_id),
                 "kind": delivery.kind, "http_status": http_status,
                 "attempt": delivery.attempts + 1}
        if status == "delivered":
            result.delivered += 1
            self.log.debug("webhook.delivered", **where)
        elif status == "dead":
            result.dead += 1
            self.log.warning("webhook.endpoint_gone" if reason == "endpoint_gone"
                             else "webhook.dead", reason=reason, **where)
        else:
            result.retried += 1
            self.log.info("webhook.retry", reason=reason, **where)


def _client(timeout: float) -> httpx.Client:
    """Every call bounded: connect, read, write and pool waits all within `timeout`."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                        trust_env=False)

