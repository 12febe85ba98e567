"""HubSpot calls made without the SDK: plain JSON in and out, through the same paced pool.

For the hot paths (ticket search, tickets / contacts batch read and update, ticket-contact
associations): decoding an answer into the SDK's models (a configuration object, which sets
a logger level, and two dateutil parses per record) cost more CPU than the rest of the loop's
work on those records; the properties are strings in the JSON either way. Also for
access-token-info, which the SDK wraps only through `requests` without a timeout. Everything
else goes through hubspot-api-client.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3

from closedloop.integration.hubspot._pacing import PacedPool
from closedloop.integration.hubspot.endpoints import path_of
from closedloop.integration.pacing import Pacer


class RawAnswer(Exception):
    """A non-2xx answer, shaped like the SDK's ApiException (status, body, headers), so the
    adapter's `translate` and `outcome_unknown` read it the same way."""

    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers


def close_pools(manager: Any) -> None:
    """Close every connection pool of a urllib3 PoolManager (or a PacedPool around one).

    urllib3 2's `PoolManager.clear()` only forgets its pools; a pool closes when it is
    garbage-collected, and the SDK keeps its last response (which holds its pool) alive,
    so the kept-alive sockets would outlive the adapter."""
    pools = manager.pools
    found = [pools[key] for key in list(pools.keys())]
    manager.clear()
    for pool in found:
        pool.close()


class RawCalls:
    """One urllib3 pool (paced like the SDK's when a pacer is given), built on first use."""

    def __init__(self, base_url: str, token: str, timeout: tuple[float, float],
                 pacer: Pacer | None) -> None:
        self._base_url = base_url
        self._token = token
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self._pacer = pacer
        self._pool: urllib3.PoolManager | PacedPool | None = None

    def close(self) -> None:
        """Close the pool's kept-alive connections (it is built again on next use)."""
        if self._pool is not None:
            close_pools(self._pool)
            self._pool = None

    def post_json(self, endpoint: str, body: dict[str, Any], query: str = "") -> dict[str, Any]:
        """POST `body` to the endpoint (see endpoints.py), `query` ("archived=false") after
        its path; the answer's JSON as a dict. One attempt: a non-2xx raises RawAnswer, a
        transport failure urllib3's error."""
        if self._pool is None:
            raw = urllib3.PoolManager(retries=urllib3.Retry(total=0))
            self._pool = raw if self._pacer is None else PacedPool(raw, self._pacer)
        response = self._pool.request(
            "POST", self._base_url + path_of(endpoint) + (f"?{query}" if query else ""),
            body=json.dumps(body).encode(),
            timeout=self._timeout, headers={"Content-Type": "application/json",
                                            "Authorization": f"Bearer {self._token}"})
        if response.status >= 300:
            raise RawAnswer(response.status, response.data, response.headers)
        data = json.loads(response.data or b"{}")
        return data if isinstance(data, dict) else {}
