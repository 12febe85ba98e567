"""The HubSpot calls of one source: the SDK's API objects, the plain-JSON pool, the retry
policy, the pacer and the counters, apart from what the adapter asks with them.

Each API object is built once (every access to `client.crm.x.y` builds a new ApiClient and
connection pool); the SDK's urllib3 retry is off (`Retry(total=0)`): every call goes through
the one tenacity policy in integration.retry, with a `_request_timeout`, and is counted per
endpoint. A pacer wraps every pool, so each request asks the source's rate windows first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import urllib3
from hubspot import HubSpot

from closedloop.integration._translate import call_translated
from closedloop.integration.errors import RateLimited
from closedloop.integration.hubspot._errors import http_error, translate
from closedloop.integration.hubspot._pacing import PacedPool
from closedloop.integration.hubspot._raw import RawAnswer, RawCalls, close_pools
from closedloop.integration.pacing import Pacer, PacingStats, Throttled
from closedloop.integration.retry import RetryPolicy, call_with_retry


class HubSpotCalls:
    """The counted, retried, paced calls to one HubSpot account."""

    def __init__(self, name: str, token: str, base_url: str, *, timeout: tuple[float, float],
                 retry: RetryPolicy, pacer: Pacer | None) -> None:
        self.name = name
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._retry = retry
        self._calls: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()  # answers 429, per endpoint
        client = HubSpot(access_token=token, host=self._base_url, base_url=self._base_url,
                         retry=urllib3.Retry(total=0))
        self._pipelines_api = client.crm.pipelines.pipelines_api
        self._search_api = client.crm.tickets.search_api
        self._associations_api = client.crm.associations.v4.batch_api
        self._contacts_api = client.crm.contacts.batch_api
        self._tickets_api = client.crm.tickets.batch_api
        self._notes_api = client.crm.objects.notes.batch_api
        self._tasks_api = client.crm.objects.tasks.batch_api
        self._memberships_api = client.crm.lists.memberships_api
        self._lists_api = client.crm.lists.lists_api
        self._properties_api = client.crm.properties.core_api
        self._groups_api = client.crm.properties.groups_api
        self._pacer = pacer
        self._raw = RawCalls(self._base_url, token, timeout, pacer)
        self._post_json = self._raw.post_json
        self._apis = (self._pipelines_api, self._search_api, self._associations_api,
                      self._contacts_api, self._tickets_api, self._notes_api, self._tasks_api,
                      self._memberships_api, self._lists_api, self._properties_api,
                      self._groups_api)
        if pacer is not None:
            for api in self._apis:
                rest = api.api_client.rest_client
                if not isinstance(rest.pool_manager, PacedPool):  # one wrap per pool
                    rest.pool_manager = PacedPool(rest.pool_manager, pacer)

    def close(self) -> None:
        """Close the kept-alive connections of every pool (the SDK's and the raw one), so a
        runtime that is closed leaves no socket open to the CRM."""
        for api in self._apis:
            close_pools(api.api_client.rest_client.pool_manager)
        self._raw.close()

    def _call(self, endpoint: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """One SDK call through the retry policy; every attempt is counted and translated."""
        return self._retried(endpoint, fn, True, **kwargs)

    def _call_json(self, endpoint: str, body: dict[str, Any], query: str = "") -> Any:
        """One plain-JSON POST (see _raw.py) through the same retry, counting and
        translation as an SDK call; the answer's JSON as a dict."""
        return self._retried(endpoint, self._post_raw, True, name=endpoint, body=body,
                             query=query)

    def _post_raw(self, *, name: str, body: dict[str, Any], query: str,
                  _request_timeout: Any = None) -> Any:
        return self._post_json(name, body, query)  # RawCalls holds the same timeout

    def _call_self_counted(self, endpoint: str, fn: Callable[..., Any], /,
                           **kwargs: Any) -> Any:
        """The same for an `fn` that counts its own HTTP calls (it may make none, or two)."""
        return self._retried(endpoint, fn, False, **kwargs)

    def _count(self, endpoint: str) -> None:
        self._calls[endpoint] += 1

    def _retried(self, endpoint: str, fn: Callable[..., Any], count: bool,
                 **kwargs: Any) -> Any:
        def attempt() -> Any:
            if count:
                self._calls[endpoint] += 1
            try:
                return call_translated(lambda: fn(**kwargs, _request_timeout=self._timeout),
                                       translate, endpoint)
            except Throttled:
                raise  # the pacer held it back: nothing was sent
            except RateLimited:
                self._rate_limited[endpoint] += 1
                raise

        return call_with_retry(attempt, policy=self._retry, op=f"{self.name}.{endpoint}")

    def call_count(self) -> int:
        """HTTP calls made so far, retried attempts included."""
        return sum(self._calls.values())

    def calls_by_endpoint(self) -> dict[str, int]:
        """Calls per endpoint name (see endpoints.ENDPOINTS), for metrics and tests."""
        return dict(self._calls)

    def rate_limited_by_endpoint(self) -> dict[str, int]:
        """Calls HubSpot answered 429, per endpoint name, for metrics."""
        return dict(self._rate_limited)

    def pacing_stats(self) -> PacingStats | None:
        """What the source's pacer did (None: unpaced), for metrics."""
        return self._pacer.stats if self._pacer is not None else None

    def _token_scopes(self) -> set[str]:
        """POST access-token-info with urllib3 directly.

        The SDK wraps this endpoint only through `client.api_request`, which uses `requests`
        with no timeout and its own base URL; a plain urllib3 call keeps the timeout,
        the base URL and the error translation the same as every other call.
        """
        def attempt() -> dict[str, Any]:
            self._calls["token_info"] += 1
            try:
                return self._post_json("token_info", {"tokenKey": self._token})
            except RawAnswer as exc:
                if exc.status == 429:
                    self._rate_limited["token_info"] += 1
                raise http_error(exc.status, exc.body, exc.headers,
                                 endpoint="token_info") from exc
            except urllib3.exceptions.HTTPError as exc:
                raise translate(exc, endpoint="token_info") or exc from exc

        info = call_with_retry(attempt, policy=self._retry, op=f"{self.name}.token_info")
        return {str(s) for s in info.get("scopes") or []}
